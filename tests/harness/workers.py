"""Running the suite on several workers (pytest-xdist, `make test`'s `-n`): which tests
share a worker, and the coverage summary brought back from the workers.

Most of the suite waits (for a scrape, an alert's `for`, a deadline), so two workers on
two cores take about half the wall time. The test files that read the session's stack
with traffic (`stack_with_traffic`: the proofs, the mutation runner, the reports) run on
one worker, so the stack is started and driven once; every other file keeps its tests on
one worker, so a module-scoped fixture (a cluster, a cache stack) is started once.

xdist's own `--dist loadgroup` cannot do this with pytest 9: it marks a group by
rewriting `item._nodeid`, which pytest 9 no longer reads (the node id is `_id`), so every
test became a group of its own and the stack was started on both workers. Hence a
scheduler of our own: xdist's scope scheduling with the scope named here, from the node
id the controller sees. Loaded with `-p tests.harness.workers` (pyproject.toml), with or
without xdist.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

SHARED_STACK = "stack_with_traffic"


@cache
def _reads_the_shared_stack(path: Path) -> bool:
    return path.is_file() and SHARED_STACK in path.read_text(encoding="utf-8")


def scope_of(rootdir: Path, nodeid: str) -> str:
    """The worker's unit a test belongs to: "stack", or its file."""
    path = nodeid.split("::", 1)[0]
    return "stack" if _reads_the_shared_stack(rootdir / path) else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByStackAndFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(config.rootpath, nodeid)

    return ByStackAndFile(config, log)


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand its lines to the controller
        from tests.harness.panels import COVERAGE

        workeroutput["coverage"] = list(COVERAGE)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    from tests.harness.panels import COVERAGE

    COVERAGE.extend(getattr(node, "workeroutput", {}).get("coverage", []))
