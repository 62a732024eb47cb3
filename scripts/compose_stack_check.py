"""`make compose-proof`: the dashboards' panel proof and the alert proof, against a running
`docker compose up` stack, through Grafana's own API (needs Docker; not collected by pytest).

  1. Grafana is up, lists every compiled dashboard, and its 4 datasources are healthy.
  2. Traffic: tests/harness/traffic.py runs inside an ai-assist container (the service has
     no published port) against http://ai-assist:8000, every path included.
  3. Every query of every panel (variables filled as Grafana fills them) goes through
     Grafana's /api/ds/query and must return data: coverage per dashboard, exit 1 below 100 %.
  4. Prometheus has loaded every alert of prometheus/rules/*.yml, evaluates them without
     error, and sends to Alertmanager.

Settings from the environment: GRAFANA_URL (http://localhost:3000), GRAFANA_USER (admin),
GRAFANA_PASSWORD (else GRAFANA_ADMIN_PASSWORD from the environment or .env).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "service"), str(ROOT)]

import requests  # noqa: E402
import yaml  # noqa: E402

from ai_assist import ports  # noqa: E402
from ai_assist.telemetry import metrics as M  # noqa: E402
from ai_assist.telemetry.logging import SERVICE_NAME  # noqa: E402
from dashboards.lib.logql import SERVICE_STREAM  # noqa: E402
from observability import uids as DS  # noqa: E402
from tests.harness.panels import DEFAULT_VALUES, fill_variables, iter_queries, load_dashboards  # noqa: E402
from tests.harness.processes import wait_until  # noqa: E402

DATASOURCES = {DS.PROMETHEUS_UID: "prometheus", DS.LOKI_UID: "loki", DS.TEMPO_UID: "tempo",
               DS.ALERTMANAGER_UID: "alertmanager"}
# Where each datasource answers "ready" through Grafana's proxy, for plugins whose health
# check Grafana's backend does not implement.
READY_PATHS = {"prometheus": "-/ready", "loki": "ready", "tempo": "ready",
               "alertmanager": "-/ready"}
RANGE_S = 3600
SCRAPE_INTERVAL_S = 15
INTERVAL_S = 15
SERVICE_URL = f"http://{SERVICE_NAME}:{ports.SERVICE}"
# Appended to traffic.py's source. The stack runs the production LLM timeout (10 s a call, 3
# retries, inside the 25 s deadline); the client waits longer than that.
TRAFFIC_DRIVER = f"""
_post = requests.post
requests.post = lambda *args, **kwargs: _post(*args, **{{**kwargs, "timeout": 600}})
tally = Tally()
drive_mix({SERVICE_URL!r}, tally, rounds=1)
send_bad_requests({SERVICE_URL!r}, tally)
burst({SERVICE_URL!r}, tally, 80)
print("traffic:", dict(tally.statuses), flush=True)
"""


def env_password() -> str:
    for name in ("GRAFANA_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        if os.environ.get(name):
            return os.environ[name]
    env_file = ROOT / ".env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "GRAFANA_ADMIN_PASSWORD" and value.strip():
                return value.strip().strip("'\"")
    sys.exit("set GRAFANA_PASSWORD (or GRAFANA_ADMIN_PASSWORD in .env)")


def poll(check, timeout: float, what: str):
    """wait_until every 2 s; exit the script, not raise, when `check` never holds."""
    try:
        return wait_until(check, timeout, what, interval=2.0)
    except TimeoutError as exc:
        sys.exit(str(exc))


class Grafana:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (user, password)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(f"{self.url}{path}", timeout=30, **kwargs)

    def proxy(self, uid: str, path: str, **params) -> requests.Response:
        return self.get(f"/api/datasources/proxy/uid/{uid}/{path}", params=params)

    def query(self, uid: str, kind: str, expr: str, target: dict) -> dict:
        now_ms = int(time.time() * 1000)
        query = {"refId": "A", "datasource": {"type": kind, "uid": uid}, "expr": expr,
                 "intervalMs": INTERVAL_S * 1000, "maxDataPoints": RANGE_S // INTERVAL_S}
        if kind == "prometheus":
            instant = bool(target.get("instant")) and not target.get("range")
            query.update(instant=instant, range=not instant)
        else:
            query["queryType"] = target.get("queryType") or "range"
        response = self.session.post(f"{self.url}/api/ds/query", timeout=60, json={
            "from": str(now_ms - RANGE_S * 1000), "to": str(now_ms), "queries": [query]})
        body = response.json()
        if response.status_code != 200 and "results" not in body:
            return {"error": f"HTTP {response.status_code}: {body.get('message', body)}"}
        return body["results"]["A"]


def has_data(result: dict) -> bool:
    """Any frame with a row (all columns of a frame have the same length)."""
    return any(len(column) > 0 for frame in result.get("frames", [])
               for column in frame.get("data", {}).get("values", []))


def check_datasources(grafana: Grafana) -> bool:
    ok = True
    for uid, kind in DATASOURCES.items():
        response = grafana.get(f"/api/datasources/uid/{uid}/health")
        body = response.json() if response.content else {}
        if response.status_code == 200 and body.get("status") == "OK":
            how = "health check"
        else:
            ready = grafana.proxy(uid, READY_PATHS[kind])
            how = f"proxy /{READY_PATHS[kind]} -> {ready.status_code}"
            if ready.status_code != 200:
                ok = False
                how += f" (health: {response.status_code} {body.get('message', '')})"
        print(f"  datasource {uid:<24} {kind:<13} {how}")
    return ok


def check_dashboards_listed(grafana: Grafana, dashboards: dict) -> bool:
    listed = {d["uid"] for d in grafana.get("/api/search", params={"type": "dash-db"}).json()}
    missing = sorted(set(dashboards) - listed)
    print(f"  dashboards: {len(dashboards) - len(missing)}/{len(dashboards)} provisioned"
          + (f", missing {missing}" if missing else ""))
    return not missing


def drive_traffic(compose: list[str]) -> None:
    source = (ROOT / "tests" / "harness" / "traffic.py").read_text() + TRAFFIC_DRIVER
    result = subprocess.run([*compose, "exec", "-T", SERVICE_NAME, "python", "-"], input=source,
                            text=True, capture_output=True, timeout=900, cwd=ROOT)
    print("  " + (result.stdout.strip() or "(no output)"))
    if result.returncode != 0:
        sys.exit(f"traffic failed:\n{result.stderr[-3000:]}")


def wait_for_signals(grafana: Grafana) -> None:
    def scraped() -> bool:
        result = grafana.proxy(DS.PROMETHEUS_UID, "api/v1/query",
                               query=f"sum({M.REQUESTS_TOTAL})").json()
        return bool(result["data"]["result"]) and float(result["data"]["result"][0]["value"][1]) > 0

    def shipped() -> bool:
        result = grafana.query(DS.LOKI_UID, "loki", SERVICE_STREAM, {})
        return has_data(result)

    poll(scraped, 120, "Prometheus scraped the traffic")
    poll(shipped, 120, "Loki received the service's log lines")


def panel_proof(grafana: Grafana, dashboards: dict) -> bool:
    ok = True
    for uid, dashboard in dashboards.items():
        queries = list(iter_queries(dashboard))
        failures = []
        for q in queries:
            source = q.target_json.get("datasource") or q.panel_json.get("datasource") or {}
            ds_uid = source.get("uid", "") if isinstance(source, dict) else ""
            if ds_uid.startswith("$"):
                ds_uid = DEFAULT_VALUES[ds_uid.strip("${}")]
            kind = q.kind or DATASOURCES.get(ds_uid, "")
            try:
                expr = fill_variables(q.expr, RANGE_S, INTERVAL_S, SCRAPE_INTERVAL_S)
            except KeyError as exc:
                failures.append(f"{q.panel} / {q.ref}: {exc}")
                continue
            result = grafana.query(ds_uid, kind, expr, q.target_json)
            if result.get("error") or not has_data(result):
                failures.append(f"{q.panel} / {q.ref}: {result.get('error') or 'no data'}"
                                f"\n        {expr}")
        covered = len(queries) - len(failures)
        share = 100.0 * covered / len(queries) if queries else 100.0
        print(f"  {uid:<32} {covered}/{len(queries)} queries with data ({share:.0f} %)")
        for failure in failures:
            print(f"      FAIL {failure}")
        ok &= not failures
    return ok


def alert_proof(grafana: Grafana) -> bool:
    expected = set()
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text()).get("groups", []):
            expected |= {r["alert"] for r in group.get("rules", []) if "alert" in r}
    groups = grafana.proxy(DS.PROMETHEUS_UID, "api/v1/rules").json()["data"]["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
    unhealthy = {name: r.get("lastError") for name, r in loaded.items()
                 if r.get("health") != "ok"}
    missing = sorted(expected - set(loaded))
    managers = grafana.proxy(DS.PROMETHEUS_UID, "api/v1/alertmanagers").json()["data"]
    connected = any(f"alertmanager:{ports.ALERTMANAGER}" in a["url"]
                    for a in managers["activeAlertmanagers"])
    firing = sorted(name for name, r in loaded.items() if r.get("state") == "firing")
    print(f"  alerts: {len(expected) - len(missing)}/{len(expected)} loaded, "
          f"{len(unhealthy)} with evaluation errors, Alertmanager "
          f"{'connected' if connected else 'NOT connected'}; firing now: {firing or 'none'}")
    for name in missing:
        print(f"      MISSING {name}")
    for name, error in unhealthy.items():
        print(f"      ERROR {name}: {error}")
    return bool(expected) and not missing and not unhealthy and connected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-traffic", action="store_true",
                        help="query what the stack already holds; send no requests")
    parser.add_argument("--compose", default="docker compose",
                        help="the compose command (default: %(default)s)")
    args = parser.parse_args(argv)
    grafana = Grafana(os.environ.get("GRAFANA_URL", f"http://localhost:{ports.GRAFANA}"),
                      os.environ.get("GRAFANA_USER", "admin"), env_password())
    dashboards = load_dashboards()

    print(f"Grafana {grafana.url}")
    poll(lambda: grafana.get("/api/health").status_code == 200, 120, "Grafana /api/health")
    if grafana.get("/api/user").status_code == 401:
        sys.exit("Grafana refused the credentials (GRAFANA_USER / GRAFANA_PASSWORD)")
    ok = check_datasources(grafana)
    ok &= check_dashboards_listed(grafana, dashboards)
    if not args.no_traffic:
        print("Traffic")
        drive_traffic(args.compose.split())
        wait_for_signals(grafana)
    print("Panels")
    ok &= panel_proof(grafana, dashboards)
    print("Alerts")
    ok &= alert_proof(grafana)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
