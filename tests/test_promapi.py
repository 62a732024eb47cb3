"""The one Prometheus HTTP client (observability/promapi.py) against a real Prometheus:
instant and range queries with the values PromQL must give, the statistics of a query,
a refused query and an unreachable address as PrometheusError, and its rules API."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from observability.promapi import Prometheus, PrometheusError
from tests.harness.processes import free_port
from tests.harness.prom import start_prometheus

ROOT = Path(__file__).resolve().parents[1]


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


# What calls an HTTP library: requests.get(...), a Session's .post(...), httpx, urllib.
HTTP_CALLS = {"get", "post", "put", "request", "urlopen", "Session", "Client"}
HTTP_MODULES = {"requests", "httpx", "urllib", "urllib.request", "aiohttp"}


def _prometheus_requests(path: Path) -> list[str]:
    """Lines of `path` where a call to an HTTP library names a Prometheus API path."""
    tree = ast.parse(path.read_text())
    imported = {alias.asname or alias.name for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names
                if (alias.name.split(".")[0] if isinstance(node, ast.Import)
                    else (node.module or "").split(".")[0]) in HTTP_MODULES}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in HTTP_CALLS and imported):
            continue
        receiver = ast.unparse(node.func.value)
        if receiver.split(".")[0] not in imported and "session" not in receiver.lower():
            continue  # a method of something else: promapi's own client, a dict
        text = " ".join(ast.unparse(a) for a in [*node.args, *(k.value for k in node.keywords)])
        if "/api/v1/" in text or "/-/ready" in text and "prom" in text.lower():
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_promapi_talks_to_prometheus_http_api():
    """One client (observability/promapi.py): no other module calls an HTTP library
    with a Prometheus API path (the Alertmanager's /api/v2 is its own API)."""
    files = [p for folder in ("service", "observability", "alerting", "dashboards", "deploy",
                              "scale", "eval", "tests")
             for p in (ROOT / folder).rglob("*.py")
             if ".venv" not in p.parts and p != ROOT / "observability" / "promapi.py"]
    assert len(files) > 100
    offenders = [line for p in files for line in _prometheus_requests(p)]
    assert not offenders, f"Prometheus's HTTP API called outside observability/promapi.py: {offenders}"
