"""Fixtures shared by every tier.

- ``broker``: a real Apache Kafka broker (deploy/kafka/kafka.sh, on free ports, data in a temp folder) for
  the whole session; set NEWSFLOW_TEST_BOOTSTRAP to run against an existing cluster instead.
- ``pipeline``: the four services as real processes against that broker, under a topic prefix of their own.
- ``web``: a local HTTP server on 127.0.0.1 serving article pages and misbehaving answers for the fetcher
  (tests.harness.pages).

Fixtures only: what the benchmarks share with the tests lives in tests/harness/, never here.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from tests.harness import Broker, Pipeline, print_logs_if_failed
from tests.harness.pages import Routes, Web


@pytest.fixture(scope="session")
def broker():
    """One Kafka broker for the whole session (or NEWSFLOW_TEST_BOOTSTRAP's cluster)."""
    b = Broker.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pipeline(broker):
    """The four services, started once for the session under a topic prefix of their own."""
    p = Pipeline.start(broker)
    yield p
    p.stop()


@pytest.fixture
def show_logs_on_failure(request, pipeline):
    """Print the session pipeline's service logs after a test that failed."""
    yield
    print_logs_if_failed(request.node, pipeline)


def pytest_addoption(parser):
    parser.addoption("--update-contract", action="store_true", dest="update_contract",
                     help="rewrite tests/contract/expected/*.json from what the steps give now (review the diff)")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def web():
    """The local web of tests.harness.pages.Routes on 127.0.0.1 (a free port), for the session."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    web = Web(f"http://127.0.0.1:{server.server_address[1]}")
    web.fixed = Routes.fixed
    yield web
    server.shutdown()
