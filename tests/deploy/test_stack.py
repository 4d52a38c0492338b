"""deploy/local/stack.sh restart (``make restart SERVICE=...``), the documented way to restart one service of the
local stack after it halted (issue 10.2). The script runs from a copy in a temp folder (so it works on that
folder's .data, never the checkout's), with a stand-in for Python: a tiny "service" that serves a metrics
endpoint with a lag series (what stack.sh waits for), announces it like a real process, and exits 3 on SIGTERM
(as a halted service does). No broker is needed: restart starts and stops service processes only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deploy_helpers import ROOT

FAKE_SERVICE = textwrap.dedent('''
    import http.server, json, os, signal, sys
    service = sys.argv[2].split(".")[1]  # python -m services.<name>
    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            halted = "1.0" if os.environ.get("FAKE_HALTED") == service else "0.0"
            body = (f'newsflow_consumer_lag{{stage="{service}",topic="t",partition="0"}} 0.0\\n'
                    f'newsflow_circuit_open{{stage="{service}"}} {halted}\\n').encode()
            self.send_response(200); self.end_headers(); self.wfile.write(body)
        def log_message(self, *args): pass
    port = int(os.environ.get(f"NEWSFLOW_{service.upper()}_METRICS_PORT", "0"))
    try:
        server = http.server.HTTPServer(("127.0.0.1", port), Metrics)
    except OSError:  # taken by another process of this service: a free one, as the real services do
        server = http.server.HTTPServer(("127.0.0.1", 0), Metrics)
    target = f".data/targets/{service}-{os.getpid()}.json"
    with open(target, "w") as f:
        f.write(json.dumps([{"targets": [f"127.0.0.1:{server.server_address[1]}"]}]))
    def halted_exit(*_):
        os.unlink(target); os._exit(3)
    signal.signal(signal.SIGTERM, halted_exit)
    print(f"{service} serving on {server.server_address[1]}", flush=True)
    server.serve_forever()
''')


@pytest.fixture
def stack(tmp_path):
    (tmp_path / "deploy" / "local").mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "local" / "stack.sh", tmp_path / "deploy" / "local" / "stack.sh")
    (tmp_path / "fake_service.py").write_text(FAKE_SERVICE)
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'fake_service.py'} \"$@\"\n")
    python.chmod(0o755)
    env = {**os.environ, "PYTHON": str(python), "EXTRACTORS": "2", "NEWSFLOW_FETCHER_METRICS_PORT": "0",
           "NEWSFLOW_EXTRACTOR_METRICS_PORT": "0"}

    def run(*args: str, **more_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(tmp_path / "deploy" / "local" / "stack.sh"), *args], cwd=tmp_path,
                              env={**env, **more_env}, capture_output=True, text=True, timeout=120)

    yield run, tmp_path
    for pid_file in (tmp_path / ".data" / "run").glob("*.pid"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _pid(folder: Path, process: str) -> int:
    return int((folder / ".data" / "run" / f"{process}.pid").read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_restart_stops_a_service_and_starts_it_again_until_it_serves_its_metrics(stack):
    run, folder = stack
    started = run("restart", "fetcher")  # not running yet: started
    assert started.returncode == 0, started.stderr
    first = _pid(folder, "fetcher")
    assert f"fetcher: up (pid {first}, metrics http://127.0.0.1:" in started.stdout

    again = run("restart", "fetcher")
    assert again.returncode == 0, again.stderr
    second = _pid(folder, "fetcher")
    assert again.stdout.splitlines()[0] == "fetcher: stopped"
    assert f"fetcher: up (pid {second}," in again.stdout and second != first and not _alive(first)
    assert not (folder / ".data" / "targets" / f"fetcher-{first}.json").exists()


def test_restart_of_a_service_restarts_each_of_its_processes_or_one_named_process(stack):
    run, folder = stack
    assert run("restart", "extractor").returncode == 0
    before = {p: _pid(folder, p) for p in ("extractor", "extractor-2")}
    one = run("restart", "extractor-2")
    assert one.returncode == 0, one.stderr
    assert _pid(folder, "extractor") == before["extractor"] and _pid(folder, "extractor-2") != before["extractor-2"]
    both = run("restart", "extractor")
    assert both.returncode == 0, both.stderr
    assert all(_pid(folder, p) != before[p] for p in before)
    lines = both.stdout.splitlines()
    assert sorted(lines[:2]) == ["extractor-2: stopped", "extractor: stopped"]
    assert sorted(line.split(":")[0] for line in lines[2:]) == ["extractor", "extractor-2"]
    assert all(": up (pid " in line for line in lines[2:])


@pytest.mark.parametrize("args", [("restart",), ("restart", "bogus")])
def test_restart_without_a_known_service_says_what_it_takes(stack, args):
    run, _ = stack
    result = run(*args)
    assert result.returncode == 2 and "SERVICE=fetcher, cleaner, extractor, indexer" in result.stderr


def test_status_says_which_process_is_halted_and_how_to_restart_it(stack):
    run, folder = stack
    assert run("restart", "fetcher", FAKE_HALTED="fetcher").returncode == 0
    assert run("restart", "extractor-2").returncode == 0
    out = run("status").stdout.splitlines()
    fetcher = _pid(folder, "fetcher")
    assert any(line.startswith(f"fetcher: HALTED (pid {fetcher}, port ") for line in out), out
    assert "make restart SERVICE=fetcher" in out[out.index(next(x for x in out if x.startswith("fetcher:"))) + 1]
    assert any(line.startswith("extractor-2: running (pid ") for line in out), out
    assert "cleaner: stopped" in out


def test_make_restart_passes_service_to_stack_sh():
    result = subprocess.run(["make", "-n", "restart", "SERVICE=cleaner"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "deploy/local/stack.sh restart cleaner" in result.stdout
