"""The golden-set canary (ai_assist/canary.py): its set, its settings, what it leaves out
of the user-facing metrics, and its panel and alert proven on a real Prometheus.

The stack here is its own (one service with the canary on, one emulator, one Prometheus):
the session stack runs without the canary, since its Gemini calls and embeddings would
move the emulator's counters that the other panels' truths read. The golden set of the
stack is known right and known wrong by construction: the shipped set (every passage
labelled with its correct disclosure, the baseline claim) plus copies of its GRI
passages labelled with disclosures that have nothing to do with them (tax, reporting
period). So the hit rate per language is known before anything runs.
"""

from __future__ import annotations

import contextvars
import json
from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from ai_assist import canary
from ai_assist import composition
from ai_assist.config import Settings, SettingsError
from ai_assist.mapping.catalogue import load_catalogue
from ai_assist.telemetry import metrics as M
from ai_assist.telemetry.metrics import Metrics
from ai_assist.telemetry.traffic import mark_synthetic
from alerting import canary as canary_alerts
from observability import thresholds
from tests.conftest import sample_sum
from tests.harness.panels import all_queries, fill_variables, load_dashboards
from tests.harness.processes import start_emulator, start_service, wait_until
from tests.harness.proof import keyed
from tests.harness.truth import CANARY_LANGUAGES, CANARY_TRUTH, CanaryTruth

KNOWN_IDS = frozenset(d.id for d in load_catalogue())
# unrelated to every GRI passage of the shipped set: deliberately wrong labels
WRONG = ("GRI 207-4", "GRI 2-3")
USAGE = {"prompt_tokens": 1000, "output_tokens": 200, "thinking_tokens": 50}


def write_set(path: Path, items: list[dict], top_k: int = 3) -> Path:
    path.write_text(json.dumps({"top_k": top_k, "items": items}, ensure_ascii=False))
    return path


# --- the set and the settings --------------------------------------------------------
def test_the_shipped_golden_set_is_valid_and_balanced():
    golden = canary.load_golden_set(canary.DEFAULT_SET, KNOWN_IDS)
    by_language = Counter(item.language for item in golden.items)
    assert set(by_language) == set(M.CANARY_LANGUAGES) == set(CANARY_LANGUAGES)
    assert len(set(by_language.values())) == 1, f"unbalanced: {dict(by_language)}"
    eval_texts = {i["text"] for i in json.loads(
        (Path(__file__).parents[1] / "eval" / "esg_eval_set.json").read_text())["items"]}
    assert not eval_texts & {item.text for item in golden.items}, \
        "the canary must watch passages the eval set did not measure"


@pytest.mark.parametrize("change, words", [
    ({"language": "fr"}, "language must be one of"),
    ({"expected": ["GRI 999-9"]}, "GRI 999-9 not in the catalogue"),
    ({"expected": []}, "expected must be a non-empty list"),
    ({"frameworks": ["XYZ"]}, "frameworks must be a list"),
    ({"text": "  "}, "text is missing or empty"),
])
def test_a_bad_golden_set_is_refused_with_the_item_named(tmp_path, change, words):
    item = {"id": "x-1", "language": "en", "frameworks": ["GRI"], "expected": ["GRI 305-1"],
            "text": "Scope 1 emissions were 10 t CO2e.", **change}
    path = write_set(tmp_path / "set.json", [item])
    with pytest.raises(ValueError, match=words) as caught:
        canary.load_golden_set(path, KNOWN_IDS)
    assert "'x-1'" in str(caught.value)


def test_settings_check_the_interval_and_the_set(tmp_path):
    assert Settings.from_env({}).canary_interval_s == 0  # off by default
    assert Settings.from_env({"AI_ASSIST_CANARY_INTERVAL_S": "900"}).canary_interval_s == 900
    with pytest.raises(SettingsError, match="AI_ASSIST_CANARY_INTERVAL_S must be 0"):
        Settings.from_env({"AI_ASSIST_CANARY_INTERVAL_S": "5"})
    bad = write_set(tmp_path / "bad.json", [{"id": "a", "language": "en", "text": "x",
                                             "expected": ["nope"]}])
    with pytest.raises(SettingsError, match="AI_ASSIST_CANARY_SET: .*nope"):
        composition.load({"AI_ASSIST_CANARY_INTERVAL_S": "60",
                          "AI_ASSIST_CANARY_SET": str(bad)})


def test_the_shipped_set_is_at_its_baseline_on_the_default_model():
    """Every shipped passage's correct disclosure is among the vector search's first
    `top_k` candidates (cosine over the catalogue's shipped vectors, the item's
    frameworks only): what the LLM is offered first. The whole pipeline's 100 % in both
    languages is measured with `python -m ai_assist.canary` (docs/operations/canary.md)."""
    from ai_assist.config import BUNDLED_MODEL
    from ai_assist.mapping import prebuilt
    from ai_assist.mapping.backends import EmbeddingModel

    assert thresholds.CANARY_BASELINE == 1.0
    catalogue = load_catalogue()
    model = EmbeddingModel(BUNDLED_MODEL, "cpu")
    vectors = prebuilt.load(catalogue, model)
    assert vectors is not None, "the shipped vectors are stale: run `make dashboards`"
    golden = canary.load_golden_set(canary.DEFAULT_SET, KNOWN_IDS)
    queries = model.encode([item.text for item in golden.items], kind="query")
    missed = {}
    for item, query in zip(golden.items, queries, strict=True):
        ranked = sorted(((float(v @ query), d.id)
                         for d, v in zip(catalogue, vectors, strict=True)
                         if d.framework in item.frameworks), reverse=True)
        first = [disclosure_id for _, disclosure_id in ranked[: golden.top_k]]
        if not set(item.expected) & set(first):
            missed[item.id] = first
    assert not missed


def test_the_alert_levels_lie_inside_the_ratio_below_the_baseline():
    """A hit rate lies in 0..1: both levels can be crossed, and the baseline (what the
    shipped set scores, proven on the stack below) does not fire them."""
    assert 0 < thresholds.CANARY_HIT_RATIO_CRITICAL < thresholds.CANARY_HIT_RATIO_WARNING \
        < thresholds.CANARY_BASELINE <= 1


def test_synthetic_requests_leave_the_user_facing_metrics_alone():
    metrics = Metrics(CollectorRegistry(), model="m")

    def count(source: str) -> None:
        if source == "canary":
            mark_synthetic()
        metrics.requests.labels("success", "none").inc()
        metrics.match_results.labels("matched", "none").inc()
        metrics.stage_duration.labels("embedding").observe(0.1)
        metrics.tokens.labels("input", "m", "none",
                              "canary" if source == "canary" else "user").inc(10)

    contextvars.copy_context().run(count, "canary")
    contextvars.copy_context().run(count, "user")
    registry = metrics.registry
    assert sample_sum(registry, M.REQUESTS_TOTAL) == 1
    assert sample_sum(registry, M.MATCH_RESULTS_TOTAL) == 1
    assert sample_sum(registry, f"{M.STAGE_DURATION}_count") == 1
    assert sample_sum(registry, M.GEMINI_TOKENS_TOTAL, source="canary") == 10
    assert sample_sum(registry, M.GEMINI_TOKENS_TOTAL, source="user") == 10


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


@pytest.mark.stack
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


@pytest.mark.stack
def test_the_alert_fires_per_language_at_its_level(canary_stack):
    """English (0.75) is below warning only; Korean (0.4) below both: the levels can be
    reached with the service's own counters."""
    prom, at = canary_stack["prom"], canary_stack["at"]
    by_severity = {a.severity: a for a in canary_alerts.alerts()}
    firing = {severity: set(keyed(prom.query(alert.expr, at=at), ("language",)))
              for severity, alert in by_severity.items()}
    assert firing == {"warning": {("en",), ("ko",)}, "critical": {("ko",)}}


@pytest.mark.stack
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


@pytest.mark.stack
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
