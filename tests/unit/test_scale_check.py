"""make scale-check (scale/): the generator covers the metric catalogue and writes
OpenMetrics that parses (the backfill + stats path on the real Prometheus:
tests/stack/test_scale_check_on_prometheus.py)."""

from __future__ import annotations

import io
from itertools import product

import numpy as np
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from ai_assist.telemetry.metrics import CATALOGUE
from observability.selectors import SELECTORS
from scale import openmetrics as om
from scale import queries as q
from scale.series import replica_families, series_per_replica
from scale.traffic import UP, FamilyState, replica_history

REPLICAS = 3


def _families_by_sample():
    return {name: f for f in replica_families() for name in f.sample_names}


def test_every_catalogue_metric_and_closed_label_set_is_generated():
    by_sample = _families_by_sample()
    for metric in CATALOGUE:
        for name in metric.series_names:
            assert name in by_sample, f"{name} is not generated"
        family = by_sample[metric.series_names[0]]
        assert family.kind == metric.kind, metric.name
        closed = {k: v for k, v in metric.labels.items() if v}
        seen = {tuple(dict(g)[k] for k in closed) for g in family.groups}
        missing = set(product(*closed.values())) - seen
        assert not missing, f"{metric.name}: label sets {sorted(missing)[:3]} not generated"
        for label, values in metric.labels.items():
            assert all(label in dict(g) for g in family.groups), (metric.name, label)
        if metric.kind == "histogram":
            assert [float(le) for le in family.buckets] == [*metric.buckets, float("inf")]


def _write(times, replicas=REPLICAS, seed=0):
    families = replica_families()
    rngs = [np.random.default_rng(seed + i) for i in range(replicas)]
    histories = [replica_history(r, times) for r in rngs]
    states = [{f.name: FamilyState(f) for f in families} for _ in histories]
    out = io.StringIO()
    written = om.write_families(out, families, histories, states, rngs, times,
                                slice(0, len(times)), 60.0, "ns")
    om.end(out)
    return families, histories, out.getvalue(), written


def test_the_openmetrics_parses_with_prometheus_clients_parser():
    # One sample a series: prometheus_client's parser drops a histogram's second
    # MetricPoint as a "duplicate" (its group_timestamp_samples is not reset when the
    # timestamp changes), so multi-sample files are proven by promtool (below).
    families, _, text, written = _write(np.array([1.7e9]))
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert written == REPLICAS * (series_per_replica(families) + 1)
    for family in families:
        assert parsed[family.name].type == family.kind
        assert len(parsed[family.name].samples) == REPLICAS * family.series_per_replica
    targets = {(s.labels[SELECTORS.job_label], s.labels[SELECTORS.namespace_label],
                s.labels["instance"]) for s in parsed[UP].samples}
    assert targets == {(SELECTORS.job, "ns", om.instance(i)) for i in range(REPLICAS)}


def test_counters_grow_reset_at_restarts_and_histograms_stay_cumulative():
    times = np.arange(1.7e9, 1.7e9 + 2 * 86400, 60.0)
    families = replica_families()
    rng = np.random.default_rng(3)
    history = replica_history(rng, times)
    history.restart = 1000
    whole = slice(0, len(times))
    for family in families:
        values = FamilyState(family).values(rng, history, whole, times, 60.0)
        if family.kind == "counter":
            steps = np.diff(values, axis=-1)
            assert (steps[:, :999] >= 0).all() and (steps[:, 1000:] >= 0).all(), family.name
            assert (values[:, 1000] == 0).all(), family.name
        if family.kind == "histogram":
            buckets = values[:, :len(family.buckets), :]
            assert (np.diff(buckets, axis=1) >= 0).all(), family.name
            assert (buckets[:, -1, :] == values[:, len(family.buckets), :]).all()
    total = FamilyState(next(f for f in families if f.kind == "counter"))
    grown = total.values(rng, history, whole, times, 60.0)
    assert grown[:, 999].sum() > 0  # the traffic is not zero


def test_lookbacks_see_ranges_subqueries_and_offsets():
    names = {"a_total", "b:rate5m"}
    expr = ('sum(rate(a_total{x="b:rate5m"}[5m])) / max_over_time((b:rate5m)[1h:1m]) '
            'or avg_over_time(b:rate5m[30d] offset 10m) or a_total')
    assert q.lookbacks(expr, names) == [("a_total", 300.0), ("b:rate5m", 3600.0),
                                        ("b:rate5m", 30 * 86400 + 600.0), ("a_total", 0.0)]


def test_per_replica_recordings_span_the_raw_history_for_panels_only():
    from scale import run

    per_replica = frozenset({"a:per_replica:sum"})
    rule = q.Query("g", "record", "r", "sum(rate(a:per_replica:sum[3d]))")
    panel = q.Query("d", "panel", "p", "a:per_replica:sum or b:deployment:rate5m",
                    range_s=7 * 86400, step_s=600)
    names = {"a:per_replica:sum", "b:deployment:rate5m"}
    raw_s = 26 * 3600
    # a panel reads a per-replica series 7 d back: generated over the raw history only
    need = run.recorded_needs([panel], names, per_replica, raw_s)
    assert need["a:per_replica:sum"] == raw_s
    assert need["b:deployment:rate5m"] == 7 * 86400 + run.LOOKBACK_DELTA_S
    # a rule gets all it reads
    need = run.recorded_needs([rule, panel], names, per_replica, raw_s)
    assert need["a:per_replica:sum"] == 3 * 86400 + run.LOOKBACK_DELTA_S
