"""Every metric of the catalogue moves when its event happens, with the right labels,
and the live /metrics passes `promtool check metrics`."""

from __future__ import annotations

import asyncio
from collections import Counter
from glob import glob
import json
from pathlib import Path
import subprocess
import threading

import pytest
import requests

from ai_assist.mapping.embedding import MicroBatcher
from ai_assist.samples import SAMPLES, SCOPE1
from ai_assist.telemetry import metrics as M
from tests.harness.processes import configure_emulator, wait_until

MODEL = "gemini-2.5-flash"
CATALOGUE_DIR = Path(__file__).resolve().parents[2] / "service/ai_assist/mapping/data"


def post(service, text, **body):
    return requests.post(f"{service.url}/v1/esg/map", json={"text": text, **body}, timeout=60)


class Delta:
    """Reads metric samples before and after an action."""

    def __init__(self, service) -> None:
        self.service = service
        self.before: dict = {}

    def watch(self, *keys):
        self.keys = keys
        self.before = {k: self.service.sample(k[0], **k[1]) for k in keys}
        return self

    def moved(self) -> dict:
        return {k[0] + str(k[1]): self.service.sample(k[0], **k[1]) - self.before[k]
                for k in self.keys}


def key(name, **labels):
    return (name, tuple(sorted(labels.items())))


def sample(service, k):
    return service.sample(k[0], **dict(k[1]))


def changes(service, keys, action):
    before = {k: sample(service, k) for k in keys}
    action()
    return {k: sample(service, k) - before[k] for k in keys}


def test_a_successful_request_moves_its_metrics(live_service, emulator):
    keys = [key("esg_mapping_requests_total", status="success"),
            key("esg_mapping_request_duration_seconds_count", status="success"),
            *[key("esg_mapping_duration_seconds_count", stage=s) for s in M.STAGES],
            *[key("esg_mapping_framework_requests_total", framework=f) for f in ("GRI", "ESRS")],
            key("esg_mapping_match_results_total", result="matched"),
            key("esg_mapping_confidence_ratio_count"),
            key("esg_vector_search_top_similarity_ratio_count"),
            key("esg_embedding_batch_size_count"),
            key("gemini_api_calls_total", outcome="ok", model=MODEL),
            key("esg_mapping_json_parse_total", result="valid"),
            # cached_input moves only when Gemini serves part of the prompt from its cache
            # (tests/service/test_llm.py has the emulator report some)
            *[key("gemini_tokens_used_total", type=t, model=MODEL)
              for t in M.TOKEN_TYPES if t != "cached_input"]]
    matches_before = {f: live_service.sample("esg_mapping_matches_total", framework=f)
                      for f in ("GRI", "ESRS")}
    emulator_before = emulator.stats()
    answers = []
    moved = changes(live_service, keys, lambda: answers.append(post(
        live_service, SCOPE1, frameworks=["GRI", "ESRS"], top_k=4)))
    emulator_after = emulator.stats()
    assert emulator_after["calls"] == emulator_before["calls"] + 1
    # what the emulator billed for the one call (the cached part of the prompt apart)
    billed = {t: emulator_after["tokens"][t] - emulator_before["tokens"][t]
              for t in emulator_before["tokens"]}
    tokens = {"input": billed["prompt"] - billed["cached"], "output": billed["output"],
              "thinking": billed["thinking"]}
    for k, delta in moved.items():
        if k[0] == "gemini_tokens_used_total":
            assert delta == tokens[dict(k[1])["type"]] > 0, k
        else:
            assert delta == 1, k
    # the matches the client was given, by framework
    given = Counter(m["framework"] for m in answers[0].json()["matches"])
    assert 1 <= sum(given.values()) <= 4
    assert {f: live_service.sample("esg_mapping_matches_total", framework=f) - before
            for f, before in matches_before.items()} == {f: given[f] for f in matches_before}
    assert live_service.sample("esg_mapping_in_progress") == 0


@pytest.mark.parametrize("marker,expect", [
    ("503*1", {key("gemini_api_retries_total", reason="server_error"): 1,
               key("gemini_api_calls_total", outcome="server_error", model=MODEL): 1,
               key("esg_mapping_requests_total", status="success"): 1}),
    ("429*1", {key("gemini_api_retries_total", reason="rate_limited"): 1,
               key("gemini_api_calls_total", outcome="rate_limited", model=MODEL): 1}),
    ("timeout*1", {key("gemini_api_retries_total", reason="timeout"): 1,
                   key("gemini_api_calls_total", outcome="timeout", model=MODEL): 1,
                   key("esg_mapping_requests_total", status="success"): 1}),
    ("malformed*1", {key("esg_mapping_json_parse_total", result="failed"): 1,
                     key("gemini_api_retries_total", reason="invalid_json"): 1,
                     key("esg_mapping_requests_total", status="success"): 1}),
    ("fenced", {key("esg_mapping_json_parse_total", result="repaired"): 1,
                key("esg_mapping_requests_total", status="success"): 1}),
    ("503", {key("esg_mapping_fallbacks_total", reason="server_error"): 1,
             key("esg_mapping_requests_total", status="fallback"): 1,
             key("esg_mapping_errors_total", error_type="GeminiAPIError", severity="CRITICAL"): 1,
             key("gemini_api_retries_total", reason="server_error"): 3}),
    ("429", {key("esg_mapping_fallbacks_total", reason="rate_limited"): 1,
             key("esg_mapping_errors_total", error_type="GeminiRateLimitError",
                 severity="WARNING"): 1}),
    ("timeout", {key("esg_mapping_fallbacks_total", reason="timeout"): 1,
                 key("esg_mapping_errors_total", error_type="GeminiTimeoutError",
                     severity="ERROR"): 1}),
    ("malformed", {key("esg_mapping_fallbacks_total", reason="invalid_json"): 1,
                   key("esg_mapping_json_parse_total", result="failed"): 4}),
    ("empty", {key("esg_mapping_fallbacks_total", reason="empty_answer"): 1}),
])
def test_faults_move_their_metrics(live_service, marker, expect):
    moved = changes(live_service, list(expect),
                    lambda: post(live_service, f"{SAMPLES[2][1]} [[emulate:{marker}]] {marker}"))
    assert moved == expect


def test_wasted_tokens_are_counted_for_discarded_answers(live_service, emulator):
    k = key("gemini_tokens_wasted_total", reason="invalid_json")
    # every answer billed the same, so the malformed one's share is known exactly
    usage = {"prompt_tokens": 1000, "output_tokens": 100, "thinking_tokens": 50}
    previous = configure_emulator(emulator)  # (an empty change: the config as it is)
    configure_emulator(emulator, **usage)
    try:
        moved = changes(live_service, [k], lambda: post(
            live_service, f"{SAMPLES[3][1]} [[emulate:malformed*1]]"))
    finally:
        configure_emulator(emulator, **{name: previous[name] for name in usage})
    # one malformed answer, whether or not the replica's retry budget (drained by the
    # faults above) lets it ask again for a good one, which is not wasted
    assert moved[k] == sum(usage.values())


def test_a_repeated_text_counts_as_duplicate(live_service):
    k = key("esg_mapping_duplicate_requests_total")
    text = "Duplicate check: our scope 3 category 1 purchased goods emissions."
    moved = changes(live_service, [k], lambda: [post(live_service, text) for _ in range(2)])
    assert moved[k] == 1


def test_in_progress_rises_during_a_request_and_falls_after(live_service):
    seen = []
    request = threading.Thread(target=post, args=(live_service,
                                                  f"{SAMPLES[5][1]} [[emulate:timeout*1]]"))
    request.start()
    wait_until(lambda: seen.append(live_service.sample("esg_mapping_in_progress")) is None
               and seen[-1] > 0, 10, "in_progress > 0", interval=0.01)
    request.join()
    assert seen[-1] == 1  # the one request this test sent
    assert live_service.sample("esg_mapping_in_progress") == 0


def test_health_build_info_catalogue_and_gpu_gauges(live_service):
    requests.get(f"{live_service.url}/health", timeout=30)
    for component in M.HEALTH_COMPONENTS:
        assert live_service.sample("ai_assist_health_status", component=component) == 1
    settings = live_service.settings
    gpus = len(glob("/dev/nvidia[0-9]*"))  # the machine's GPUs, seen without NVML
    assert live_service.sample("ai_assist_build_info", version=settings.version,
                               embedding_model=settings.embedding_model, llm_model=MODEL,
                               device="cuda" if gpus else "cpu") == 1
    for framework in ("GRI", "SASB", "TCFD", "ESRS"):  # the entries of its data file
        entries = json.loads((CATALOGUE_DIR / f"{framework.lower()}.json").read_text())
        assert live_service.sample("ai_assist_catalogue_disclosures", framework=framework) \
            == len(entries["disclosures"]) > 0, framework
    assert live_service.sample("ai_assist_catalogue_disclosures", framework="TCFD") == 11
    assert live_service.sample("ai_assist_gpu_devices") == gpus


def test_micro_batcher_batches_concurrent_texts_and_reports_queue_depth(live_service):
    from prometheus_client import CollectorRegistry

    model = live_service.state.model
    metrics = M.Metrics(CollectorRegistry())
    depths = []

    async def scenario():
        batcher = MicroBatcher(model, metrics, max_batch=32, max_wait_ms=5, queue_size=64)
        batcher.start()
        futures = [asyncio.ensure_future(batcher.embed(text)) for _, text in SAMPLES]
        await asyncio.sleep(0)
        depths.append(metrics.registry.get_sample_value("esg_embedding_queue_depth"))
        vectors = await asyncio.gather(*futures)
        await batcher.stop()
        return vectors

    vectors = asyncio.run(scenario())
    assert len(vectors) == len(SAMPLES) and vectors[0].shape == (model.dimension,)
    assert depths == [len(SAMPLES)]
    assert metrics.registry.get_sample_value("esg_embedding_batch_size_count") == 1
    assert metrics.registry.get_sample_value("esg_embedding_batch_size_sum") == len(SAMPLES)
    assert metrics.registry.get_sample_value("esg_embedding_queue_depth") == 0


def test_a_full_embedding_queue_answers_503(live_service):
    from prometheus_client import CollectorRegistry

    from ai_assist.errors import QueueFullError

    async def scenario():
        batcher = MicroBatcher(live_service.state.model, M.Metrics(CollectorRegistry()),
                               max_batch=4, max_wait_ms=1, queue_size=2)
        first = [asyncio.ensure_future(batcher.embed("a")) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFullError):
            await batcher.embed("one too many")
        batcher.start()
        await asyncio.gather(*first)
        await batcher.stop()

    asyncio.run(scenario())


def test_live_metrics_pass_promtool(live_service):
    post(live_service, SCOPE1)
    text = requests.get(f"{live_service.url}/metrics", timeout=10).text
    result = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                            capture_output=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for metric in M.CATALOGUE:
        assert metric.series_names[0] in text or metric.name in text or \
            metric.name.startswith("ai_assist_gpu_") or metric.name == M.BUILD_INFO, metric.name


def test_exemplars_carry_trace_ids_in_openmetrics(live_service):
    post(live_service, SCOPE1)
    text = requests.get(f"{live_service.url}/metrics", timeout=10,
                        headers={"Accept": "application/openmetrics-text"}).text
    exemplar_lines = [l for l in text.splitlines()
                      if l.startswith("esg_mapping_request_duration_seconds_bucket") and "# {" in l]
    assert exemplar_lines and all('trace_id="' in l for l in exemplar_lines)


def test_every_error_class_is_a_catalogued_label():
    import inspect

    from ai_assist import errors

    classes = {name for name, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, errors.AIAssistError) and obj is not errors.AIAssistError}
    assert classes == set(M.ERROR_TYPES)
    severities = {getattr(errors, name).severity for name in classes}
    assert severities <= set(M.SEVERITIES)


def test_each_metric_exposes_the_series_the_catalogue_counts(live_service):
    """A replica's cost to Prometheus: the catalogue says how many series each metric
    has (label sets x samples of its kind), and a live replica's /metrics has exactly
    those; with the most variants and every priced model they stay within the budget."""
    from prometheus_client.parser import text_string_to_metric_families

    from ai_assist.experiments import MAX_VARIANTS
    from ai_assist.pricing import PRICES

    text = requests.get(f"{live_service.url}/metrics", timeout=10).text
    exposed = {f.name: len(f.samples) for f in text_string_to_metric_families(text)}
    known = live_service.state.metrics.known
    problems = []
    for m in M.CATALOGUE:
        open_unknown = any(not values and not known.get(label)
                           for label, values in m.labels.items())
        if open_unknown:  # a GPU's index, the build's labels: known once seen
            continue
        got = exposed.get(M._base_name(m.name), 0) + exposed.get(
            f"{M._base_name(m.name)}_created", 0)
        if got != M.series_per_replica(m, known):
            problems.append(f"{m.name}: {got} series, the catalogue says "
                            f"{M.series_per_replica(m, known)}")
    assert not problems, "\n".join(problems)
    worst = {"model": tuple(PRICES),
             M.VARIANT: ("none", *(f"v{i}" for i in range(MAX_VARIANTS)))}
    total = sum(M.series_per_replica(m, worst) for m in M.CATALOGUE)
    assert total <= M.SERIES_PER_REPLICA_BUDGET, total
