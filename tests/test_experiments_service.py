"""The service under an experiment: the variant is chosen per request (sticky, or forced
by X-Experiment-Variant), changes what it should, and is on the answer's header, the
request's span, its log lines and the `variant` label of the request metrics."""

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


@pytest.fixture(scope="module")
def service(emulator, tmp_path_factory):
    work = tmp_path_factory.mktemp("experiment-service")
    path = work / "experiment.json"
    path.write_text(json.dumps(EXPERIMENT))
    with running_service(work, emulator.url, experiment_file=str(path)) as live:
        yield live


def post(service, variant=None, **body):
    headers = {"X-Experiment-Variant": variant} if variant else {}
    return requests.post(f"{service.url}/v1/esg/map", json={"text": SCOPE1, **body},
                         headers=headers, timeout=60)


def test_a_forced_variant_changes_what_it_says_and_is_recorded(service, emulator):
    before = {v: service.sample("esg_mapping_requests_total", status=s, variant=v)
              for v, s in (("three", "success"), ("nollm", "fallback"))}
    three = post(service, "three", top_k=5)
    assert three.status_code == 200 and three.headers["X-Experiment-Variant"] == "three"
    nollm = post(service, "nollm")
    assert nollm.headers["X-Experiment-Variant"] == "nollm"
    assert nollm.json()["fallback_reason"] == "llm_disabled"  # llm: false
    assert service.sample("esg_mapping_requests_total", status="success",
                          variant="three") == before["three"] + 1
    assert service.sample("esg_mapping_requests_total", status="fallback",
                          variant="nollm") == before["nollm"] + 1
    assert service.sample("esg_mapping_confidence_ratio_count", variant="three") >= 1
    assert service.sample("esg_mapping_request_tokens_total", variant="three") > 0
    assert service.sample("esg_mapping_request_tokens_total", variant="nollm") == 0
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


def test_a_variant_on_another_model_without_thinking(service):
    tokens = {t: service.sample("gemini_tokens_used_total", type=t,
                                model="gemini-2.5-flash-lite", variant="lite")
              for t in ("input", "thinking")}
    default_thinking = service.sample("gemini_tokens_used_total", type="thinking",
                                      model="gemini-2.5-flash")
    answer = post(service, "lite")
    assert answer.status_code == 200 and answer.json()["model"] == "gemini-2.5-flash-lite"
    assert service.sample("gemini_tokens_used_total", type="input",
                          model="gemini-2.5-flash-lite", variant="lite") > tokens["input"]
    # thinking_budget 0: the emulator bills no thinking (it caps thinking at the budget)
    assert service.sample("gemini_tokens_used_total", type="thinking",
                          model="gemini-2.5-flash-lite", variant="lite") == tokens["thinking"]
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
        seen = {post(service, company_id=company).headers["X-Experiment-Variant"]
                for _ in range(3)}
        assert seen == {variant}, company


def test_an_unknown_variant_is_a_400_that_names_the_variants(service):
    before = service.sample("esg_mapping_rejected_requests_total", reason="unknown_variant")
    response = post(service, "seven")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "unknown_variant"
    assert "has no variant 'seven' (variants: control, three, nollm, lite)" in body["message"]
    assert service.sample("esg_mapping_rejected_requests_total",
                          reason="unknown_variant") == before + 1
    assert service.sample("esg_mapping_requests_total", status="rejected",
                          variant="none") >= 1
