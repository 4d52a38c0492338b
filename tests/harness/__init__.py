"""Helpers shared by the tests and the benchmarks: the one place both import from.

- :mod:`tests.harness.pipeline`: a real Kafka broker, the four services as real processes, waits by polling
  (re-exported here, so ``from tests.harness import Pipeline`` works);
- :mod:`tests.harness.pages`: the local web of the fetcher tests (seed pages, misbehaving and hostile answers);
- :mod:`tests.harness.scoring`: the text-extraction metric of the cleaner's benchmark;
- :mod:`tests.harness.seeds`: where the seed articles are, and what the first one is known to contain.

Imports go one way: tests/ and bench/ import this package; it imports schemas/ and services/ only, never
pytest's conftest, a test module or anything under bench/.
"""

from tests.harness.pipeline import (  # noqa: F401
    PYTHON,
    ROOT,
    STAGES,
    Broker,
    Pipeline,
    Service,
    dump,
    free_port,
    metric,
    print_logs_if_failed,
    request,
    scrape,
    seed_request,
    wait_until,
)
