"""The one Prometheus HTTP client (observability/promapi.py) against a real Prometheus:
instant and range queries with the values PromQL must give, the statistics of a query,
a refused query and an unreachable address as PrometheusError, and its rules API."""

from __future__ import annotations

import time

import pytest

from observability.promapi import Prometheus, PrometheusError
from tests.harness.processes import free_port
from tests.harness.prom import start_prometheus


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    handle = start_prometheus(tmp_path_factory.mktemp("promapi"), [])
    yield Prometheus(handle.url)
    handle.stop()


def test_instant_queries_give_vectors_and_scalars(prom):
    assert prom.query("vector(3) * 2") == [({}, 6.0)]
    assert prom.query("scalar(vector(1.5)) + 1") == [({}, 2.5)]
    at = time.time() - 5
    assert prom.query("label_replace(vector(1), 'a', 'b', '', '')", at) == [({"a": "b"}, 1.0)]
    assert prom.query("time()", at) == [({}, pytest.approx(round(at, 3), abs=1e-3))]


def test_a_range_query_gives_every_step(prom):
    end = round(time.time()) - 10
    ((labels, points),) = prom.query_range("vector(2)", end - 20, end, 5)
    assert labels == {}
    assert points == [(float(t), 2.0) for t in range(end - 20, end + 1, 5)]
    ((_, points),) = prom.query_range("time()", end - 4, end, 2)
    assert [v for _, v in points] == [end - 4, end - 2, end]


def test_statistics_of_a_query_and_of_a_refused_one(prom):
    at = time.time()
    stats = prom.query_stats("vector(1)", at)
    assert (stats.series, stats.error) == (1, "") and stats.wall_s > 0
    ranged = prom.query_range_stats("vector(1)", at - 60, at, 15)
    assert (ranged.series, ranged.error) == (1, "")
    refused = prom.query_stats("sum(", at)
    assert refused.error.startswith("bad_data:") and refused.series == 0


def test_failures_are_prometheus_errors(prom):
    with pytest.raises(PrometheusError, match=r"bad_data: .*\(sum\(\)"):
        prom.query("sum(")
    with pytest.raises(PrometheusError, match="cannot be reached"):
        Prometheus(f"http://127.0.0.1:{free_port()}", timeout_s=2).query("1")


def test_the_rest_of_the_api(prom):
    assert prom.rules() == [] and prom.alerts() == []
    assert prom.build_version().startswith("prometheus, version ")
    assert prom.ready()
    assert not Prometheus(f"http://127.0.0.1:{free_port()}").ready()
