"""On the stack, the recorded SLI of every threshold after real traffic lies in the range
its query can reach (the limits inside that range: tests/unit/test_thresholds_reachable.py)."""

from __future__ import annotations

from observability.thresholds import THRESHOLDS
from tests.harness.reachable import reachable


def test_the_recorded_slis_of_real_traffic_lie_in_reach(stack_with_traffic):
    outside = []
    for row in THRESHOLDS:
        low, high = reachable(row)
        samples = stack_with_traffic.query(row.record)
        if not samples:
            outside.append(f"{row.record}: no value recorded, so none to check")
        for _, value in samples:
            if not low <= value <= high:
                outside.append(f"{row.record} = {value:g}, outside {low:g}..{high:g}")
    assert not outside, "\n".join(outside)
