"""Running the suite on several workers (pytest-xdist, `make test`'s `-n`): which tests
share a worker, and the coverage summary brought back from the workers.

Most of the suite waits (for a scrape, an alert's `for`, a deadline), so two workers on
two cores take about half the wall time. The tests that read the session's stack with
traffic (`stack_with_traffic`: the proofs, the mutation runner, the reports) run on one
worker, so the stack is started and driven once; every other module keeps its tests on
one worker, so a module-scoped fixture (a cluster, a cache stack) is started once.
Loaded with `-p tests.harness.workers` (pyproject.toml), with or without xdist.
"""

from __future__ import annotations

import pytest

SHARED_STACK = "stack_with_traffic"


def pytest_collection_modifyitems(config, items):
    for item in items:
        group = "stack" if SHARED_STACK in getattr(item, "fixturenames", ()) \
            else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand its lines to the controller
        from tests.harness.panels import COVERAGE

        workeroutput["coverage"] = list(COVERAGE)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    from tests.harness.panels import COVERAGE

    COVERAGE.extend(getattr(node, "workeroutput", {}).get("coverage", []))
