"""The mutation runner's backfill (tests/harness/backfill.py) against a real Prometheus:
a rule that reads another backfilled rule sees that rule's sample of the same instant,
as a live group's rules do, not one an interval older."""

from __future__ import annotations

from tests.harness.backfill import Plan, backfill
from tests.harness.processes import wait_until
from tests.harness.prom import start_prometheus

COUNTER = "prometheus_tsdb_head_samples_appended_total"  # moves at every self-scrape


def test_a_rule_reading_a_backfilled_rule_reads_the_same_instant(tmp_path):
    live = start_prometheus(tmp_path / "live", [])
    shadow = None
    try:
        wait_until(lambda: any(v >= 20 for _, v in live.query(f"count_over_time({COUNTER}[60s])")),
                   90, "twenty self-scrapes")
        (_, now), = live.query("time()")
        start, end = now - 18, now - 2
        control = Plan("control_", renamed={"x:sum": "control_x:sum", "x:copy": "control_x:copy"},
                       rules=[{"record": "control_x:sum", "expr": f"sum({COUNTER})", "labels": {}},
                              {"record": "control_x:copy", "expr": "control_x:sum",
                               "labels": {}}])
        shadow = backfill([control], tmp_path / "shadow", live.url, start, end, 1.0)
        series = {labels["__name__"]: dict(points) for labels, points in shadow.handle.query_range(
            '{__name__=~"control_x:.+"}', start, end, 1.0)}
        copies, sums = series["control_x:copy"], series["control_x:sum"]
        assert len(set(sums.values())) > 5, "the counter did not move while backfilled"
        differ = {t: (copies[t], sums[t]) for t in copies if copies[t] != sums.get(t)}
        assert not differ, f"the level above read the level below at another instant: {differ}"
    finally:
        if shadow is not None:
            shadow.stop()
        live.stop()
