"""make scale-check (scale/): the backfill + stats path works on the real Prometheus (the
generator and the queries' lookbacks: tests/unit/test_scale_check.py)."""

from __future__ import annotations

from scale import queries as q
from scale.series import replica_families


def test_backfill_and_query_stats_on_the_real_prometheus(tmp_path):
    from scale import run
    from scale.report import over_budget

    plan = run.Plan(replicas=(2,), raw_hours=2, recorded_days=1, work=tmp_path)
    result = run.simulate(plan, over_budget, log=lambda *a: None)
    rules = q.rule_queries(plan.rules_dir)
    measured = {(m.query.source, m.query.name, m.query.range_s): m for m in result.measured}
    assert len(result.measured) == len(run.all_queries(plan, plan.step_s))
    assert not [m for m in result.measured if m.stats.error]
    names = run.raw_names(replica_families()) | q.recorded_names(plan.rules_dir)
    for rule in rules:  # every rule that reads a series ran, read samples and timed
        m = measured[(rule.source, rule.name, 0.0)]
        assert m.stats.wall_s > 0, rule.name
        if q.lookbacks(rule.expr, names):
            assert m.stats.total_samples > 0, rule.name
    # the raw series are there: the request-rate rules return a series per namespace
    recordings = [m for m in result.measured if m.query.kind == "record"]
    assert sum(m.stats.series > 0 for m in recordings) >= 0.9 * len(recordings)
    panels = [m for m in result.measured if m.query.kind == "panel"]
    assert sum(m.stats.total_samples > 0 for m in panels) >= 0.9 * len(panels)
    raw_samples = 2 * result.series_per_replica * plan.raw_hours * 3600 / plan.step_s
    assert result.samples_written[2] >= raw_samples
