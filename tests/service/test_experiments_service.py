"""The service under an experiment: the variant is chosen per request (sticky, or forced
by X-Experiment-Variant with a QA credential), changes what it should, and is on the
answer's header, the request's span and its log lines; the `variant` label of the
request metrics carries assigned requests only (forced ones are counted apart)."""

from __future__ import annotations

import json

import pytest
import requests
from ai_assist.experiments import assign, parse_experiment
from ai_assist.samples import SCOPE1

from tests.conftest import running_service

EXPERIMENT = {"name": "svc-test", "variants": [
    {"name": "control", "weight": 1},
    {"name": "three", "weight": 1, "candidates": 3, "prompt_version": "v2"},
    {"name": "nollm", "weight": 1, "llm": False},
    {"name": "lite", "weight": 1, "gemini_model": "gemini-2.5-flash-lite",
     "thinking_budget": 0}]}


KEYS = {"qa": "qa-key-0123456789abcdef", "alice": "alice-key-0123456789abcdef"}
ADMIN_KEY = "admin-key-0123456789abcdef"


@pytest.fixture(scope="module")
def service(emulator, tmp_path_factory):
    work = tmp_path_factory.mktemp("experiment-service")
    path = work / "experiment.json"
    path.write_text(json.dumps(EXPERIMENT))
    with running_service(work, emulator.url, experiment_file=str(path),
                         api_keys=",".join(f"{n}:{k}" for n, k in KEYS.items()),
                         experiment_qa_keys="qa", admin_api_key=ADMIN_KEY) as live:
        yield live


def post(service, variant=None, key=KEYS["qa"], **body):
    headers = {"X-API-Key": key}
    if variant:
        headers["X-Experiment-Variant"] = variant
    return requests.post(f"{service.url}/v1/esg/map", json={"text": SCOPE1, **body},
                         headers=headers, timeout=60)


def compared_and_forced(service, variant: str) -> tuple[float, float]:
    return (service.sample("esg_mapping_requests_total", variant=variant),
            service.sample("esg_experiment_excluded_requests_total", reason="forced",
                           variant=variant))


def test_a_forced_variant_changes_what_it_says_and_is_kept_out_of_the_comparison(
        service, emulator):
    before = {v: compared_and_forced(service, v) for v in ("three", "nollm")}
    none = {s: service.sample("esg_mapping_requests_total", status=s, variant="none")
            for s in ("success", "fallback")}
    tokens = {v: service.sample("esg_mapping_request_tokens_total", variant=v)
              for v in ("three", "none")}
    billed_before = emulator.stats()["tokens"]
    three = post(service, "three", top_k=5)
    assert three.status_code == 200 and three.headers["X-Experiment-Variant"] == "three"
    nollm = post(service, "nollm")
    billed = {t: n - billed_before[t] for t, n in emulator.stats()["tokens"].items()}
    assert nollm.headers["X-Experiment-Variant"] == "nollm"
    assert nollm.json()["fallback_reason"] == "llm_disabled"  # llm: false
    # served by the variant named, counted as forced, and in no per-variant series
    for variant in ("three", "nollm"):
        compared, forced = compared_and_forced(service, variant)
        assert (compared, forced) == (before[variant][0], before[variant][1] + 1), variant
    assert service.sample("esg_mapping_requests_total", status="success",
                          variant="none") == none["success"] + 1
    assert service.sample("esg_mapping_requests_total", status="fallback",
                          variant="none") == none["fallback"] + 1
    assert service.sample("esg_mapping_request_tokens_total", variant="three") == \
        tokens["three"]
    # every token the emulator billed for the forced "three" ("nollm" asked it nothing)
    assert service.sample("esg_mapping_request_tokens_total", variant="none") == \
        tokens["none"] + billed["prompt"] + billed["output"] + billed["thinking"]
    assert billed["prompt"] > 0
    assert service.sample("ai_assist_experiment_variant_weight_ratio",
                          experiment="svc-test", variant="three") == pytest.approx(1 / 4)
    # at most 3 candidates reached Gemini: no more than 3 matches came back
    assert 1 <= len(three.json()["matches"]) <= 3
    spans = [s for s in service.spans.get_finished_spans()
             if s.attributes.get("esg.experiment.variant") == "three"]
    assert spans and spans[-1].attributes["esg.experiment"] == "svc-test"
    lines = [json.loads(line) for line in service.logs.lines]
    completed = [line for line in lines if line.get("event") == "esg_mapping_completed"
                 and line.get("variant") == "three"]
    assert completed and completed[-1]["experiment"] == "svc-test"
    assert completed[-1]["variant_forced"] is True


def test_a_variant_on_another_model_without_thinking(service, emulator):
    tokens = {t: service.sample("gemini_tokens_used_total", type=t,
                                model="gemini-2.5-flash-lite")
              for t in ("input", "thinking")}
    default_thinking = service.sample("gemini_tokens_used_total", type="thinking",
                                      model="gemini-2.5-flash")
    billed_before = emulator.stats()["tokens"]
    answer = post(service, "lite")
    billed = {t: n - billed_before[t] for t, n in emulator.stats()["tokens"].items()}
    assert answer.status_code == 200 and answer.json()["model"] == "gemini-2.5-flash-lite"
    # forced: its tokens are billed to the model, under variant "none"
    assert service.sample("gemini_tokens_used_total", type="input",
                          model="gemini-2.5-flash-lite", variant="none") == \
        tokens["input"] + billed["prompt"] - billed["cached"]
    assert billed["prompt"] > 0
    assert service.sample("gemini_tokens_used_total", model="gemini-2.5-flash-lite",
                          variant="lite") == 0
    # thinking_budget 0: the emulator bills no thinking (it caps thinking at the budget)
    assert service.sample("gemini_tokens_used_total", type="thinking",
                          model="gemini-2.5-flash-lite") == tokens["thinking"]
    assert service.sample("gemini_tokens_used_total", type="thinking",
                          model="gemini-2.5-flash") == default_thinking
    # the model's series existed before its first call (pre-created at start)
    assert "gemini-2.5-flash-lite" in {s.labels.get("model") for f in
                                       service.state.metrics.registry.collect()
                                       for s in f.samples if s.name.startswith("gemini_tokens")}


def test_the_same_company_always_gets_the_same_variant(service):
    """Two companies whose hashes fall in different variants, from one client: each keeps
    its own variant (a service that assigned by client would give both the same)."""
    experiment = parse_experiment(EXPERIMENT)
    expected = {}
    for n in range(100):
        variant = assign(experiment, f"company:co-{n}").name
        if variant not in expected.values():
            expected[f"co-{n}"] = variant
        if len(expected) == 2:
            break
    for company, variant in expected.items():
        before = service.sample("esg_mapping_requests_total", variant=variant)
        seen = {post(service, key=KEYS["alice"], company_id=company).headers[
            "X-Experiment-Variant"] for _ in range(3)}
        assert seen == {variant}, company
        # assigned, not forced: in the comparison
        assert service.sample("esg_mapping_requests_total", variant=variant) == before + 3


def test_an_unknown_variant_is_a_400_that_names_the_variants(service):
    before = service.sample("esg_mapping_rejected_requests_total", reason="unknown_variant")
    rejected = service.sample("esg_mapping_requests_total", status="rejected", variant="none")
    response = post(service, "seven")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "unknown_variant"
    assert "has no variant 'seven' (variants: control, three, nollm, lite)" in body["message"]
    assert service.sample("esg_mapping_rejected_requests_total",
                          reason="unknown_variant") == before + 1
    assert service.sample("esg_mapping_requests_total", status="rejected",
                          variant="none") == rejected + 1


@pytest.mark.parametrize("variant", ["three", "seven"])
def test_an_ordinary_key_may_not_force_a_variant(service, variant):
    """Forcing is for QA credentials: any other key gets a 403 that says who may, lists
    no variant (known or not), and nothing reaches the pipeline."""
    before = {"forbidden": service.sample("esg_mapping_rejected_requests_total",
                                          reason="variant_forcing_forbidden"),
              "embedded": service.sample("esg_mapping_duration_seconds_count",
                                         stage="embedding")}
    response = post(service, variant, key=KEYS["alice"])
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "variant_forcing_forbidden"
    assert "AI_ASSIST_EXPERIMENT_QA_KEYS" in body["message"] and "admin key" in body["message"]
    assert not any(name in body["message"] for name in ("control", "three", "nollm", "lite"))
    assert "X-Experiment-Variant" not in response.headers
    assert service.sample("esg_mapping_rejected_requests_total",
                          reason="variant_forcing_forbidden") == before["forbidden"] + 1
    assert service.sample("esg_mapping_duration_seconds_count",
                          stage="embedding") == before["embedded"]


def test_the_admin_key_may_force_and_is_its_own_client(service):
    before = compared_and_forced(service, "three")
    response = post(service, "three", key=ADMIN_KEY)
    assert response.status_code == 200 and response.headers["X-Experiment-Variant"] == "three"
    assert compared_and_forced(service, "three") == (before[0], before[1] + 1)
    lines = [json.loads(line) for line in service.logs.lines]
    done = [line for line in lines if line.get("request_id") == response.json()["request_id"]
            and line.get("event") == "request_completed"]
    assert done and done[-1]["client_id"] == "(admin)"
    assert ADMIN_KEY not in "\n".join(service.logs.lines)
