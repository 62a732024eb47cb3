"""The one client of Prometheus's HTTP API: instant and range queries (optionally with
the query statistics, `stats=all`), rules, alerts and the build info. The cost report,
the A/B report, the tests' harness and `make scale-check` all talk to Prometheus
through it; the queries themselves are built with observability/promql.py.

Every failure is a PrometheusError: an address that cannot be reached, an answer that
is not Prometheus's JSON, or a query Prometheus refused (with its errorType and error).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

Sample = tuple[dict, float]  # (labels, value)
Series = tuple[dict, list[tuple[float, float]]]  # (labels, [(unix time, value)])


class PrometheusError(RuntimeError):
    pass


@dataclass(frozen=True)
class QueryStats:
    """What one query cost Prometheus (`stats=all`) and its client."""
    total_samples: int  # samples loaded (stats.samples.totalQueryableSamples)
    peak_samples: int  # the most held at once: what --query.max-samples limits
    exec_s: float  # Prometheus's own execTotalTime
    wall_s: float  # the HTTP round trip as a client (Grafana, the rule manager) waits
    series: int  # result series
    error: str = ""  # "errorType: error" when Prometheus refused the query


def _time(t: float) -> str:
    return f"{t:.3f}"


class Prometheus:
    """Prometheus at `url` (its base URL, e.g. http://localhost:9090)."""

    def __init__(self, url: str, timeout_s: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def _body(self, path: str, params: dict) -> dict:
        try:
            response = self.session.get(f"{self.url}{path}", params=params,
                                        timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise PrometheusError(f"Prometheus at {self.url} cannot be reached: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise PrometheusError(f"{params.get('query', path)}: {response.status_code} "
                                  f"{response.text[:300]}")
        return body

    def get(self, path: str, **params) -> dict:
        """The `data` of a successful answer to GET `path` (e.g. /api/v1/rules)."""
        body = self._body(path, params)
        if body["status"] != "success":
            raise PrometheusError(f"{body.get('errorType')}: {body.get('error')} "
                                  f"({params.get('query', path)})")
        return body["data"]

    # --- queries -------------------------------------------------------------------------
    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """An instant query at `at` (unix time; now by default): [(labels, value)]; a
        scalar is one sample with no labels."""
        params = {"query": expr}
        if at is not None:
            params["time"] = _time(at)
        data = self.get("/api/v1/query", **params)
        if data["resultType"] == "vector":
            return [(r["metric"], float(r["value"][1])) for r in data["result"]]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        raise PrometheusError(f"{expr}: a {data['resultType']} is not an instant vector")

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query: [(labels, [(unix time, value)])]."""
        data = self.get("/api/v1/query_range", query=expr, start=_time(start),
                        end=_time(end), step=f"{step:g}")
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
                for r in data["result"]]

    def query_stats(self, expr: str, at: float) -> QueryStats:
        """An instant query's cost; a refused query is a QueryStats with its error."""
        return self._stats("/api/v1/query", {"query": expr, "time": _time(at)})

    def query_range_stats(self, expr: str, start: float, end: float,
                          step: float) -> QueryStats:
        """A range query's cost; a refused query is a QueryStats with its error."""
        return self._stats("/api/v1/query_range", {"query": expr, "start": _time(start),
                                                   "end": _time(end), "step": f"{step:g}"})

    def _stats(self, path: str, params: dict) -> QueryStats:
        started = time.perf_counter()
        body = self._body(path, {**params, "stats": "all"})
        wall = time.perf_counter() - started
        if body["status"] != "success":
            return QueryStats(0, 0, 0.0, wall, 0,
                              f"{body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        stats = data.get("stats") or {}
        samples = stats.get("samples") or {}
        result = data.get("result")
        return QueryStats(int(samples.get("totalQueryableSamples", 0)),
                          int(samples.get("peakSamples", 0)),
                          float((stats.get("timings") or {}).get("execTotalTime", 0.0)),
                          wall, len(result) if isinstance(result, list) else 1)

    # --- the rest of the API ---------------------------------------------------------------
    def ready(self) -> bool:
        """Whether /-/ready answers 200 (the TSDB loaded, the rules read); False while
        the address cannot be reached yet."""
        try:
            return self.session.get(f"{self.url}/-/ready", timeout=min(self.timeout_s, 2)).ok
        except requests.RequestException:
            return False

    def rules(self) -> list[dict]:
        """Rule groups as /api/v1/rules gives them (each rule: health, lastError, state)."""
        return self.get("/api/v1/rules")["groups"]

    def alerts(self) -> list[dict]:
        """Active alerts, pending and firing."""
        return self.get("/api/v1/alerts")["alerts"]

    def build_version(self) -> str:
        return f"prometheus, version {self.get('/api/v1/status/buildinfo')['version']}"
