"""The capacity model (deploy/capacity.py): the HPA algorithm it simulates, step by step
against the documented formula, and the simulated day that docs/capacity.md reports."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from deploy import capacity as C
from observability import autoscaling as A
from observability.durations import seconds
from tests.harness import prices

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results() -> list[C.Day]:
    return C.days()


def test_one_signal_follows_the_documented_formula():
    # AverageValue: the metric is a total; ceil(total / target) outside the tolerance
    assert C.hpa_count(420, 100, 3, average=True) == 5
    assert C.hpa_count(320, 100, 3, average=True) == 3  # ratio 1.07: within 10 %
    assert C.hpa_count(0, 100, 3, average=True) == 0
    # Value: ceil(current * metric / target)
    assert C.hpa_count(45, 30, 3, average=False) == 5
    assert C.hpa_count(0.95, 0.8, 2, average=False) == 3
    assert C.hpa_count(0.85, 0.8, 2, average=False) == 2  # ratio 1.06: within 10 %


def test_scale_up_is_immediate_but_rate_limited_and_scale_down_waits_for_the_window():
    scaler = C.Autoscaler(use_cpu=False)
    # 1 replica, 5000 queued texts want 50: the maximum, limited to +4 pods per period
    assert scaler.decide(0, 1, queue=5000, p95=2, cpu=None) == 1 + A.SCALE_UP_PODS
    assert scaler.decide(15, 5, queue=5000, p95=2, cpu=None) == A.MAX_REPLICAS
    window = seconds(A.SCALE_DOWN_WINDOW)
    # the queue is gone: the count holds until the window has passed the last high wish
    assert scaler.decide(30, A.MAX_REPLICAS, queue=0, p95=2, cpu=None) == A.MAX_REPLICAS
    assert scaler.decide(15 + window - 15, A.MAX_REPLICAS, 0, 2, None) == A.MAX_REPLICAS
    assert scaler.decide(15 + window + 15, A.MAX_REPLICAS, 0, 2, None) == A.MIN_REPLICAS


def test_cpu_utilisation_counts_only_where_the_overlay_has_it():
    with_cpu, without = C.Autoscaler(use_cpu=True), C.Autoscaler(use_cpu=False)
    assert with_cpu.decide(0, 2, queue=0, p95=2, cpu=1.0) == 3  # ceil(2 x 1.0 / 0.8)
    # without it, busy replicas with an empty queue ask for nothing: the minimum
    assert without.decide(0, 2, queue=0, p95=2, cpu=1.0) == A.MIN_REPLICAS


def test_a_new_pod_serves_only_after_the_cold_start(results):
    day = results[1].seconds
    first_up = next(t for t, s in enumerate(day) if s.replicas > A.MIN_REPLICAS)
    first_ready = next(t for t, s in enumerate(day) if s.ready > A.MIN_REPLICAS)
    assert first_ready - first_up == pytest.approx(C.INPUTS["cold_start"].value, abs=1)


def test_the_day_stays_within_the_bounds_and_the_fleets_compare_as_reported(results):
    queue_only, cpu, fixed = (C.summary(day) for day in results)
    for day in results[:2]:
        assert all(A.MIN_REPLICAS <= s.replicas <= A.MAX_REPLICAS for s in day.seconds)
    assert fixed["refused"] == 0 and fixed["replicas_max"] == math.ceil(
        max(s.arrivals for s in results[2].seconds) / C.INPUTS["capacity"].value)
    # what docs/operations/capacity.md says
    assert cpu["replica_hours"] < queue_only["replica_hours"] < fixed["replica_hours"]
    assert cpu["scale_events"] < queue_only["scale_events"] / 10
    assert cpu["refused"] < queue_only["refused"]
    assert cpu["p95_max"] < A.LATENCY.target


def test_docs_capacity_md_is_the_report_of_this_model(results):
    text = (ROOT / "docs" / "capacity.md").read_text()
    assert text == C.report(results), "run `make capacity`"
    assert (ROOT / "docs" / "capacity.png").stat().st_size > 10_000


def test_the_gemini_price_counts_every_billed_token_of_the_demo():
    # make demo: 18288 input, 2058 output and 2618 thinking tokens over 16 calls; at
    # Gemini 2.5 Flash's prices (tests/harness/prices.py), thinking billed as output:
    # (1143 x 0.30 + (128.625 + 163.625) x 2.50) / 1e6 = 1.073525e-3 USD a request
    assert C.Settings().gemini_model == "gemini-2.5-flash"
    assert C.gemini_usd_per_request() == pytest.approx(
        prices.usd("gemini-2.5-flash", {"input": 18288 / 16, "output": 2058 / 16,
                                        "thinking": 2618 / 16}), rel=1e-12)
    assert C.gemini_usd_per_request() == pytest.approx(1.073525e-3, rel=1e-12)
