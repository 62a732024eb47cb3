"""The golden-set canary's panel and alert proven on a real Prometheus (its set and
settings: tests/unit/test_canary.py).

The stack here is its own (one service with the canary on, one emulator, one Prometheus):
the session stack runs without the canary, since its Gemini calls and embeddings would
move the emulator's counters that the other panels' truths read. The golden set of the
stack is known right and known wrong by construction: the shipped set (every passage
labelled with its correct disclosure, the baseline claim) plus copies of its GRI
passages labelled with disclosures that have nothing to do with them (tax, reporting
period). So the hit rate per language is known before anything runs.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests

from ai_assist import canary
from ai_assist.telemetry import metrics as M
from alerting import canary as canary_alerts
from tests.harness.canary import write_set
from tests.harness.panels import all_queries, fill_variables, load_dashboards
from tests.harness.processes import start_emulator, start_service, wait_until
from tests.harness.proof import keyed
from tests.harness.truth import CANARY_LANGUAGES, CANARY_TRUTH, CanaryTruth

# unrelated to every GRI passage of the shipped set: deliberately wrong labels
WRONG = ("GRI 207-4", "GRI 2-3")
USAGE = {"prompt_tokens": 1000, "output_tokens": 200, "thinking_tokens": 50}


# --- the stack -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def canary_stack(tmp_path_factory):
    from tests.harness.prom import start_prometheus

    work = tmp_path_factory.mktemp("canary")
    shipped = json.loads(canary.DEFAULT_SET.read_text(encoding="utf-8"))["items"]
    gri = {lang: [i for i in shipped if i["frameworks"] == ["GRI"] and i["language"] == lang]
           for lang in CANARY_LANGUAGES}
    # en: 3 right, 1 wrong (0.75: warning); ko: 2 right, 3 wrong (0.4: critical)
    right_items = gri["en"][:3] + gri["ko"][:2]
    wrong = [{**item, "id": f"{item['id']}-wrong", "expected": [WRONG[n % 2]]}
             for n, item in enumerate(gri["en"][3:4] + gri["ko"][2:5])]
    items = right_items + wrong
    right = Counter(i["language"] for i in right_items)
    wrong_by = Counter(i["language"] for i in wrong)
    assert (right["en"], wrong_by["en"], right["ko"], wrong_by["ko"]) == (3, 1, 2, 3)
    path = write_set(work / "golden.json", items)
    emulator = start_emulator(work)
    emulator.configure(**USAGE)
    service = prom = None
    try:
        service = start_service(work, {
            "AI_ASSIST_GEMINI_BASE_URL": emulator.url,
            # one run, at start: the counters then hold still while the proofs read them
            "AI_ASSIST_CANARY_INTERVAL_S": "3600", "AI_ASSIST_CANARY_SET": str(path),
            # a client would be refused after one request: the canary never is
            "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "1", "AI_ASSIST_RATE_LIMIT_BURST": "1"})
        prom = start_prometheus(work, [service.target], scrape_interval="1s")
        # Nothing else may read /metrics before Prometheus has stored the counters at 0:
        # the canary's first run waits for two scrapes, whoever sends them.
        wait_until(lambda: prom.query(f"{M.CANARY_CHECKS_TOTAL} == 0"), 60,
                   "Prometheus storing the canary's counters at 0")
        expected = len(items)
        wait_until(lambda: _service_total(service, M.CANARY_CHECKS_TOTAL) == expected, 120,
                   "the canary's first run")
        wait_until(lambda: sum(v for _, v in prom.query(f"sum({M.CANARY_CHECKS_TOTAL})"))
                   == expected, 30, "Prometheus holding the canary's run")
        # at the latest scrape itself: increase() then needs no extrapolation to the
        # window's end, and none to its start (the first stored sample is 0), so counts
        # are exact as well as ratios
        at = max(v for _, v in prom.query(f"timestamp({M.CANARY_CHECKS_TOTAL})"))
        truth = CanaryTruth(dict(right), dict(wrong_by), emulator.stats()["calls"])
        yield {"prom": prom, "service": service, "truth": truth, "at": at,
               "wrong_ids": {w["id"] for w in wrong}, "emulator": emulator}
    finally:
        if prom is not None:
            prom.stop()
        if service is not None:
            service.stop()
        emulator.stop()


def _service_total(service, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(service.metrics_url, timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_the_canary_panels_show_the_truth_of_a_known_mix(canary_stack):
    truth, prom, at = canary_stack["truth"], canary_stack["prom"], canary_stack["at"]
    assert truth.runs == 1
    queries = [q for q in all_queries(load_dashboards())
               if (q.dashboard.removeprefix("ai-assist-"), q.panel, q.ref) in CANARY_TRUTH]
    assert len(queries) == len(CANARY_TRUTH), "a canary panel is missing or renamed"
    for q in queries:
        expected = CANARY_TRUTH[(q.dashboard.removeprefix("ai-assist-"), q.panel, q.ref)](truth)
        got = keyed(prom.query(fill_variables(q.expr, 3600, 60, 1.0), at=at), ("language",))
        assert set(got) == set(expected.values), (q.panel, got)
        for key, want in expected.values.items():
            assert got[key] == pytest.approx(want, rel=1e-9), (q.panel, key)


def test_the_alert_fires_per_language_at_its_level(canary_stack):
    """English (0.75) is below warning only; Korean (0.4) below both: the levels can be
    reached with the service's own counters."""
    prom, at = canary_stack["prom"], canary_stack["at"]
    by_severity = {a.severity: a for a in canary_alerts.alerts()}
    firing = {severity: set(keyed(prom.query(alert.expr, at=at), ("language",)))
              for severity, alert in by_severity.items()}
    assert firing == {"warning": {("en",), ("ko",)}, "critical": {("ko",)}}


def test_canary_checks_stay_out_of_user_metrics_and_count_their_own_tokens(canary_stack):
    service, truth = canary_stack["service"], canary_stack["truth"]
    for name in (M.REQUESTS_TOTAL, M.REJECTED_REQUESTS_TOTAL, f"{M.REQUEST_DURATION}_count",
                 f"{M.STAGE_DURATION}_count", M.FRAMEWORK_REQUESTS_TOTAL, M.MATCHES_TOTAL,
                 M.MATCH_RESULTS_TOTAL, f"{M.CONFIDENCE}_count", M.JSON_PARSE_TOTAL,
                 M.FALLBACKS_TOTAL, M.ERRORS_TOTAL, M.DUPLICATE_REQUESTS_TOTAL,
                 f"{M.VECTOR_SIMILARITY}_count"):
        assert _service_total(service, name) == 0, name
    calls = truth.emulator_calls
    assert _service_total(service, M.GEMINI_TOKENS_TOTAL, source="user") == 0
    assert _service_total(service, M.GEMINI_TOKENS_TOTAL, source="canary") == calls * sum(
        USAGE.values())
    assert _service_total(service, M.GEMINI_CALLS_TOTAL, outcome="ok") == calls


def test_each_run_logs_its_misses_as_synthetic(canary_stack):
    lines = [json.loads(line) for line in canary_stack["service"].log_lines()
             if line.startswith("{")]
    runs = [line for line in lines if line.get("event") == "canary_run_completed"]
    assert len(runs) == 1
    assert runs[0]["synthetic"] is True
    assert set(runs[0]["missed"]) == canary_stack["wrong_ids"]
    assert runs[0]["hits"] == {"en": 3, "ko": 2}
    mapped = [line for line in lines if line.get("event") == "esg_mapping_completed"]
    assert mapped and all(line.get("synthetic") is True for line in mapped)
