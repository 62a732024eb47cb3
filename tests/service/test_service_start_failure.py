"""The harness's service process that cannot start: its exit fails the wait at once."""

from __future__ import annotations

import time

import pytest

from tests.harness.processes import ProcessExited, start_service


def test_the_harness_gives_up_at_once_when_the_service_exits(tmp_path):
    """A service that cannot start fails the wait in seconds, not after its timeout."""
    started = time.monotonic()
    with pytest.raises(ProcessExited):
        start_service(tmp_path, {"AI_ASSIST_LOG_LEVEL": "LOUD"}, ready_timeout=120)
    assert time.monotonic() - started < 60
