"""The golden-set canary (ai_assist/canary.py): its set, its settings, what it leaves out
of the user-facing metrics (its panel and alert on a real Prometheus:
tests/stack/test_canary_on_prometheus.py)."""

from __future__ import annotations

import contextvars
import json
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from ai_assist import canary
from ai_assist import composition
from ai_assist.config import Settings, SettingsError
from ai_assist.mapping.catalogue import load_catalogue
from ai_assist.telemetry import metrics as M
from ai_assist.telemetry.metrics import Metrics
from ai_assist.telemetry.traffic import mark_synthetic
from observability import thresholds
from tests.conftest import sample_sum
from tests.harness.canary import write_set
from tests.harness.truth import CANARY_LANGUAGES

KNOWN_IDS = frozenset(d.id for d in load_catalogue())


# --- the set and the settings --------------------------------------------------------
def test_the_shipped_golden_set_is_valid_and_balanced():
    golden = canary.load_golden_set(canary.DEFAULT_SET, KNOWN_IDS)
    by_language = Counter(item.language for item in golden.items)
    assert set(by_language) == set(M.CANARY_LANGUAGES) == set(CANARY_LANGUAGES)
    assert len(set(by_language.values())) == 1, f"unbalanced: {dict(by_language)}"
    eval_texts = {i["text"] for i in json.loads(
        (Path(__file__).parents[2] / "eval" / "esg_eval_set.json").read_text())["items"]}
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
