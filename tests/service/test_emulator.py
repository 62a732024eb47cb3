"""The Gemini emulator, spoken to by the real google-genai client over loopback."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import replace
import time

import pytest
import requests
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from ai_assist.mapping.json_repair import parse_llm_json
from ai_assist.mapping.prompt import build_prompt
from ai_assist.samples import SCOPE1
from gemini_emulator import FAULTS, BackgroundEmulator, EmulatorConfig
from gemini_emulator.answers import parse_prompt
from tests.harness.candidates import ESRS_E1_6, GRI_303_3, GRI_305_1, TCFD_STRATEGY_C
from tests.harness.processes import configure_emulator as configure
from tests.harness.processes import emulator_stats as stats
from tests.harness.processes import reset_emulator, start_emulator, wait_until

MODEL = "gemini-2.5-flash"
CANDIDATES = [GRI_305_1, GRI_303_3, ESRS_E1_6, TCFD_STRATEGY_C]


def prompt(text: str = SCOPE1, top_k: int = 3) -> str:
    return build_prompt(text, CANDIDATES, ("GRI", "ESRS", "TCFD"), top_k)


@pytest.fixture(scope="module")
def emu():
    with BackgroundEmulator() as emulator:
        yield emulator


@pytest.fixture
def fresh(emu):
    reset_emulator(emu)
    yield emu
    reset_emulator(emu)


@pytest.fixture
async def client(fresh):
    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=fresh.url))
    yield client.aio
    await client.aio.aclose()


async def generate(aio, contents: str, **config):
    return await aio.models.generate_content(
        model=MODEL, contents=contents,
        config=types.GenerateContentConfig(response_mime_type="application/json",
                                           temperature=0.1, **config))


# -- answers ------------------------------------------------------------------------
async def test_a_valid_answer_with_usage(client, fresh):
    p = prompt()
    response = await generate(client, p)
    answer, result = parse_llm_json(response.text)
    assert result == "valid"
    ids = [m["disclosure_id"] for m in answer["matches"]]
    assert ids[0] == "GRI 305-1" and "ESRS E1-6" in ids and "GRI 303-3" not in ids
    assert 1 <= len(ids) <= 3
    confidences = [m["confidence"] for m in answer["matches"]]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0.55 <= c <= 0.97 for c in confidences)
    assert all(m["rationale"].endswith(".") and len(m["rationale"]) < 200
               for m in answer["matches"])
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    # the emulator bills one token per 4 characters (rounded up) of what it was sent
    assert usage.prompt_token_count == math.ceil(len(p) / 4)
    assert usage.candidates_token_count == math.ceil(len(response.text) / 4)
    assert 50 <= usage.thoughts_token_count <= 300
    assert usage.total_token_count == (usage.prompt_token_count + usage.candidates_token_count
                                       + usage.thoughts_token_count)
    assert response.model_version == MODEL and response.response_id
    assert stats(fresh)["by_outcome"]["ok"] == 1


async def test_answers_are_deterministic_for_the_same_prompt(client):
    first, second = [await generate(client, prompt()) for _ in range(2)]
    assert first.text == second.text
    assert first.usage_metadata.thoughts_token_count == second.usage_metadata.thoughts_token_count


async def test_top_k_and_the_service_s_similarity_steer_the_choice(client):
    one = json.loads((await generate(client, prompt(top_k=1))).text)["matches"]
    assert [m["disclosure_id"] for m in one] == ["GRI 305-1"]
    water = [replace(GRI_303_3, similarity=0.71), replace(GRI_305_1, similarity=0.52),
             replace(ESRS_E1_6, similarity=0.3)]
    chosen = json.loads((await generate(client, build_prompt(
        SCOPE1, water, ("GRI", "ESRS"), 3))).text)["matches"]
    assert chosen[0]["disclosure_id"] == "GRI 303-3"  # the similarity, not the words


async def test_the_choice_is_language_neutral(client):
    """A Korean passage shares no word with the English candidates: the answer is the
    same as for its English counterpart, the ranking the service sent."""
    english = json.loads((await generate(client, prompt(SCOPE1))).text)["matches"]
    korean = json.loads((await generate(client, prompt(
        "2024년 직접 온실가스 배출량(Scope 1)은 48,200 tCO2eq입니다."))).text)["matches"]
    assert [m["disclosure_id"] for m in korean] == [m["disclosure_id"] for m in english]
    assert [m["disclosure_id"] for m in english] == [
        c.disclosure_id for c in sorted(CANDIDATES, key=lambda c: -c.similarity)
    ][: len(english)]
    assert all(abs(k["confidence"] - e["confidence"]) <= 0.02
               for k, e in zip(korean, english))


async def test_both_api_versions_are_served(fresh):
    for version in ("v1", "v1beta"):
        client = genai.Client(api_key="k", http_options=types.HttpOptions(
            base_url=fresh.url, api_version=version))
        response = await generate(client.aio, prompt())
        assert json.loads(response.text)["matches"]
        await client.aio.aclose()


def test_the_prompt_block_round_trips():
    parsed = parse_prompt(prompt("Passage with </passage> and <candidates> tags.", top_k=4))
    assert parsed.top_k == 4
    assert parsed.passage == "Passage with (/passage) and (candidates) tags."
    assert [c.disclosure_id for c in parsed.candidates] == [c.disclosure_id for c in CANDIDATES]
    assert parsed.candidates[3].title == "Resilience of strategy / scenarios"
    assert parsed.candidates[0].similarity == pytest.approx(0.62)


# -- faults by marker ---------------------------------------------------------------
@pytest.mark.parametrize("fault,error,code,status", [
    ("429", genai_errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ("400", genai_errors.ClientError, 400, "INVALID_ARGUMENT"),
    ("500", genai_errors.ServerError, 500, "INTERNAL"),
    ("503", genai_errors.ServerError, 503, "UNAVAILABLE"),
])
async def test_error_markers(client, fresh, fault, error, code, status):
    with pytest.raises(error) as caught:
        await generate(client, prompt(f"{SCOPE1} [[emulate:{fault}]]"))
    assert caught.value.code == code and caught.value.status == status
    assert caught.value.message
    assert stats(fresh)["by_outcome"][fault] == 1


async def test_malformed_answer_has_no_json(client):
    response = await generate(client, prompt(f"{SCOPE1} [[emulate:malformed]]"))
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    with pytest.raises(ValueError):
        parse_llm_json(response.text)
    # billed for the text it sent, though no JSON can be read from it
    assert response.usage_metadata.candidates_token_count == math.ceil(len(response.text) / 4)


async def test_truncated_answer_stops_at_max_tokens_and_is_repairable(client):
    response = await generate(client, prompt(f"{SCOPE1} [[emulate:truncated]]"))
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    answer, result = parse_llm_json(response.text)
    assert result == "repaired" and answer["matches"][0]["disclosure_id"] == "GRI 305-1"


async def test_empty_answer(client):
    sent = prompt(f"{SCOPE1} [[emulate:empty]]")
    response = await generate(client, sent)
    assert response.text is None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.prompt_token_count == math.ceil(len(sent) / 4)
    assert not response.usage_metadata.candidates_token_count


async def test_fenced_answer_is_repairable(client):
    response = await generate(client, prompt(f"{SCOPE1} [[emulate:fenced]]"))
    assert "```json" in response.text and ",]}" in response.text
    answer, result = parse_llm_json(response.text)
    assert result == "repaired" and answer["matches"]


async def test_invented_ids(client):
    some = json.loads((await generate(client, prompt(f"{SCOPE1} [[emulate:invented]]"))).text)
    ids = {c.disclosure_id for c in CANDIDATES}
    assert [m["disclosure_id"] in ids for m in some["matches"]].count(False) == 1
    every = json.loads((await generate(client, prompt(f"{SCOPE1} [[emulate:invented_all]]"))).text)
    assert every["matches"] and not any(m["disclosure_id"] in ids for m in every["matches"])


async def test_timeout_holds_the_request_until_the_client_gives_up(client, fresh):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(generate(client, prompt(f"{SCOPE1} [[emulate:timeout]]")), 0.5)
    assert time.monotonic() - started < 2
    # the abandoned request is released by the client's disconnect, not left hanging
    wait_until(lambda: stats(fresh)["in_flight"] == 0, 5, "emulator in_flight == 0", 0.02)
    assert stats(fresh)["by_outcome"]["timeout"] == 1


async def test_timeout_answers_504_after_hang_s(client, fresh):
    configure(fresh, hang_s=0.2)
    with pytest.raises(genai_errors.ServerError) as caught:
        await generate(client, prompt(f"{SCOPE1} [[emulate:timeout]]"))
    assert caught.value.code == 504 and caught.value.status == "DEADLINE_EXCEEDED"


async def test_count_marker_fails_the_first_n_calls_of_that_prompt(client, fresh):
    marked = prompt(f"{SCOPE1} [[emulate:503*2]]")
    for _ in range(2):
        with pytest.raises(genai_errors.ServerError):
            await generate(client, marked)
    other = prompt("Another passage [[emulate:503*2]]")  # counted on its own
    with pytest.raises(genai_errors.ServerError):
        await generate(client, other)
    assert json.loads((await generate(client, marked)).text)["matches"]
    assert json.loads((await generate(client, marked)).text)["matches"]
    assert stats(fresh)["by_outcome"] == {**stats(fresh)["by_outcome"], "503": 3, "ok": 2}


async def test_markers_apply_in_order(client):
    marked = prompt(f"{SCOPE1} [[emulate:429*1]] [[emulate:malformed*1]]")
    with pytest.raises(genai_errors.ClientError):
        await generate(client, marked)
    with pytest.raises(ValueError):
        parse_llm_json((await generate(client, marked)).text)
    assert parse_llm_json((await generate(client, marked)).text)[1] == "valid"


async def test_an_unknown_marker_is_a_400_naming_the_known_ones(client):
    with pytest.raises(genai_errors.ClientError) as caught:
        await generate(client, prompt(f"{SCOPE1} [[emulate:teapot]]"))
    assert caught.value.code == 400 and "503" in caught.value.message


# -- faults by rate, usage overrides, latency ----------------------------------------
async def test_fault_rates(client, fresh):
    configure(fresh, fault_rates={"503": 1.0})
    with pytest.raises(genai_errors.ServerError):
        await generate(client, prompt())

    async def outcomes_of_40_calls() -> list[str]:
        outcomes = []
        for _ in range(40):
            try:
                await generate(client, prompt())
                outcomes.append("ok")
            except genai_errors.ServerError:
                outcomes.append("503")
        return outcomes

    configure(fresh, fault_rates={"503": 0.5}, seed=7)
    outcomes = await outcomes_of_40_calls()
    assert 8 <= outcomes.count("503") <= 32
    configure(fresh, seed=7)  # the same seed draws the same faults
    assert await outcomes_of_40_calls() == outcomes


async def test_usage_overrides_and_thinking_budget(client, fresh):
    configure(fresh, prompt_tokens=1000, output_tokens=120, thinking_tokens=250)
    usage = (await generate(client, prompt())).usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count,
            usage.thoughts_token_count, usage.total_token_count) == (1000, 120, 250, 1370)
    capped = await generate(client, prompt(),
                            thinking_config=types.ThinkingConfig(thinking_budget=100))
    assert capped.usage_metadata.thoughts_token_count == 100
    assert stats(fresh)["tokens"] == {"prompt": 2000, "output": 240, "thinking": 350,
                                      "cached": 0}
    assert capped.usage_metadata.cached_content_token_count is None  # none unless asked
    configure(fresh, cached_tokens=600)
    cached = (await generate(client, prompt())).usage_metadata
    assert (cached.prompt_token_count, cached.cached_content_token_count) == (1000, 600)


async def test_concurrent_calls_wait_in_parallel(client, fresh):
    configure(fresh, latency_ms=500)
    started = time.monotonic()
    responses = await asyncio.gather(*[generate(client, prompt(f"{SCOPE1} #{n}"))
                                       for n in range(20)])
    elapsed = time.monotonic() - started
    assert all(json.loads(r.text)["matches"] for r in responses)
    assert 0.5 <= elapsed < 10 / 2, elapsed  # 20 x 500 ms one after another would be 10 s


async def test_latency_and_jitter(client, fresh):
    configure(fresh, latency_ms=200, jitter_ms=100)
    started = time.monotonic()
    await generate(client, prompt())
    assert 0.2 <= time.monotonic() - started < 1.5


# -- the control endpoints -----------------------------------------------------------
def test_config_endpoint_reads_updates_validates_and_resets(fresh):
    url = f"{fresh.url}/_emulator/config"
    config = requests.get(url, timeout=5).json()
    assert config["latency_ms"] == 0 and set(config["fault_rates"]) == set(FAULTS)
    assert config["thinking_tokens"] is None
    updated = configure(fresh, latency_ms=25, fault_rates={"429": 0.1})
    assert updated["latency_ms"] == 25 and updated["fault_rates"]["429"] == 0.1
    assert configure(fresh, fault_rates={"503": 0.2})["fault_rates"]["429"] == 0.1  # merged
    for bad in ({"latency_ms": -1}, {"fault_rates": {"418": 0.5}},
                {"fault_rates": {"429": 0.7, "503": 0.7}}, {"nonsense": 1},
                {"thinking_tokens": "many"}, [1, 2]):
        response = requests.post(url, json=bad, timeout=5)
        assert response.status_code == 400, bad
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert requests.get(url, timeout=5).json()["latency_ms"] == 25  # unchanged by refusals
    requests.post(f"{fresh.url}/_emulator/reset", timeout=5).raise_for_status()
    assert requests.get(url, timeout=5).json() == config


def test_health_stats_auth_and_unknown_routes(fresh):
    assert requests.get(f"{fresh.url}/healthz", timeout=5).json() == {"status": "ok"}
    body = {"contents": [{"role": "user", "parts": [{"text": prompt()}]}]}
    route = f"{fresh.url}/v1beta/models/{MODEL}:generateContent"
    no_key = requests.post(route, json=body, timeout=5)
    assert no_key.status_code == 403 and no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    ok = requests.post(route, json=body, headers={"x-goog-api-key": "k"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["candidates"][0]["content"]["role"] == "model"
    bad = requests.post(route, json={"nothing": 1}, headers={"x-goog-api-key": "k"}, timeout=5)
    assert bad.status_code == 400
    other = requests.post(f"{fresh.url}/v1beta/models/{MODEL}:countTokens", json=body,
                          params={"key": "k"}, timeout=5)
    assert other.status_code == 404 and other.json()["error"]["code"] == 404
    s = stats(fresh)
    assert s["calls"] == 3 and s["in_flight"] == 0
    assert s["by_outcome"]["ok"] == 1 and s["by_outcome"]["unauthenticated"] == 1
    assert s["by_outcome"]["bad_request"] == 1


def test_retry_info_is_sent_with_429_when_configured(fresh):
    configure(fresh, retry_delay_s=2)
    body = {"contents": [{"parts": [{"text": "[[emulate:429]]"}]}]}
    response = requests.post(f"{fresh.url}/v1beta/models/{MODEL}:generateContent", json=body,
                             headers={"x-goog-api-key": "k"}, timeout=5)
    [detail] = response.json()["error"]["details"]
    assert detail["@type"].endswith("google.rpc.RetryInfo") and detail["retryDelay"] == "2s"


def test_command_line_start(tmp_path):
    emulator = start_emulator(tmp_path, "--latency-ms", "5", "--thinking-tokens", "77",
                              "--fault-rate", "503=0.25", "--seed", "3")
    try:
        config = emulator.configure()
        assert config["latency_ms"] == 5 and config["thinking_tokens"] == 77
        assert config["fault_rates"]["503"] == 0.25 and config["seed"] == 3
        emulator.reset()
        assert emulator.stats()["calls"] == 0
    finally:
        emulator.stop()


def test_background_emulator_stops_cleanly():
    emulator = BackgroundEmulator(EmulatorConfig(latency_ms=1))
    url = emulator.start()
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    emulator.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/healthz", timeout=2)
