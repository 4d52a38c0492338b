"""The CLI stays light: importing ``services.cli.main``, or running a command's ``--help``, in a fresh
interpreter loads neither faust nor any service's wiring (``services.<name>.service``,
``services.runtime.service``). The read-only commands take their settings from ``services/<name>/settings.py``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.runtime.settings import ROOT

PROBE = """
import importlib, json, sys
from services.cli.main import main
for name in {preload!r}:
    importlib.import_module(name)
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("faust", "aiokafka")
                        or m.startswith("services.") and m.endswith(".service"))))
"""


def wiring_loaded(*argvs: list[str], preload: tuple[str, ...] = ()) -> list[str]:
    """The faust, aiokafka and ``services.*.service`` modules a fresh interpreter holds after running the CLI
    with each of ``argvs`` (and importing ``preload`` first)."""
    code = PROBE.format(argvs=list(argvs), preload=list(preload))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def test_importing_the_cli_loads_no_service_wiring():
    assert wiring_loaded() == []


@pytest.mark.parametrize("command", ["search", "story", "tail", "push", "dlq", "status", "topics"])
def test_a_command_s_help_loads_no_service_wiring(command):
    assert wiring_loaded([command, "--help"]) == []


def test_the_probe_sees_the_wiring_when_it_is_loaded():
    loaded = wiring_loaded(preload=("services.indexer.service",))
    assert {"faust", "services.runtime.service", "services.indexer.service"} <= set(loaded)
