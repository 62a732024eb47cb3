"""An adversarial A/A experiment against the real service, a real Prometheus and the
report command: the attack of issue 19, which used to make the report say "winner:
treat" (Holm-adjusted p = 3e-113) while its sample-ratio check passed.

Two identical arms. Honest clients (one API key, many companies, unique passages, a few
repeats that the cache serves) make the only traffic the comparison should see. Then:
- mallory, an ordinary key, forces 300 requests into "treat" with one repeated passage
  (cache hits: no tokens) and 300 into "control" with unique passages: all refused
  (403 variant_forcing_forbidden), nothing reaches the pipeline;
- the QA key does exactly the same: allowed (it is QA's tool), answered by the arm it
  names, and left out of the comparison, counted as forced.
The report must then read the honest traffic only: its counts, rates, means, split
check and verdict ("no winner") are those the client's own records give, computed
with the same statistics (ai_assist.experiments.stats) from the client's tally.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict

import pytest
import requests
from ai_assist.experiments.stats import VariantData, analyse
from ai_assist.samples import SAMPLES

from tests.conftest import running_service
from tests.harness.processes import copy_index, python_env, start_emulator, wait_until

EXPERIMENT = {"name": "adversarial-aa", "variants": [{"name": "control", "weight": 50},
                                                     {"name": "treat", "weight": 50}]}
KEYS = {"honest": "honest-key-0123456789abcdef", "mallory": "mallory-key-0123456789abcd",
        "qa": "qa-key-0123456789abcdefgh"}
USAGE = {"prompt_tokens": 1200, "output_tokens": 200, "thinking_tokens": 100}
TOKENS_PER_CALL = sum(USAGE.values())
HONEST_COMPANIES = 200
ATTACK = 300  # forced requests into each arm
MATCH = 0.6


def post(url: str, key: str, text: str, company: str | None = None,
         variant: str | None = None) -> requests.Response:
    headers = {"X-API-Key": key}
    if variant:
        headers["X-Experiment-Variant"] = variant
    body = {"text": text, "top_k": 3}
    if company:
        body["company_id"] = company
    return requests.post(f"{url}/v1/esg/map", json=body, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def attacked(live_service, tmp_path_factory):
    from tests.harness.prom import start_prometheus

    work = tmp_path_factory.mktemp("adversarial-aa")
    emulator = start_emulator(work)
    emulator.configure(**USAGE)
    experiment = work / "experiment.json"
    experiment.write_text(json.dumps(EXPERIMENT))
    chroma = copy_index(live_service.settings.chroma_path, work / "chroma")
    prom = None
    try:
        with running_service(work, emulator.url, chroma_path=chroma, cache_enabled=True,
                             experiment_file=str(experiment), experiment_qa_keys="qa",
                             api_keys=",".join(f"{n}:{k}" for n, k in KEYS.items())
                             ) as service:
            target = service.url.removeprefix("http://")
            prom = start_prometheus(work, [target], scrape_interval="500ms")
            wait_until(lambda: prom.query("esg_mapping_requests_total"), 30, "first scrape")
            honest: list[requests.Response] = []
            for n in range(HONEST_COMPANIES):
                text = f"{SAMPLES[n % len(SAMPLES)][1]} (report of company {n})"
                honest.append(post(service.url, KEYS["honest"], text, f"co-{n}"))
                if n % 20 == 0:  # a repeat: served by the cache, left out of the figures
                    honest.append(post(service.url, KEYS["honest"], text, f"co-{n}"))
            repeated = SAMPLES[0][1]
            attacks: dict[str, list[requests.Response]] = defaultdict(list)
            for who in ("mallory", "qa"):
                for i in range(ATTACK):
                    attacks[who].append(post(service.url, KEYS[who], repeated,
                                             variant="treat"))
                    attacks[who].append(post(service.url, KEYS[who],
                                             f"{SAMPLES[i % len(SAMPLES)][1]} ({who} {i})",
                                             variant="control"))
            expected = service.sample("esg_mapping_requests_total")
            wait_until(lambda: sum(v for _, v in prom.query(
                "sum(esg_mapping_requests_total)")) == expected, 30,
                "Prometheus holding every request")
            at = max(v for _, v in prom.query("timestamp(esg_mapping_requests_total)"))
            result = subprocess.run(
                [sys.executable, "-m", "ai_assist.experiments", "report", "--prometheus",
                 prom.url, "--window", "1h", "--at", f"{at:.3f}", "--json",
                 str(work / "report.json")],
                capture_output=True, text=True, timeout=120, check=False,
                env=python_env({}))
            assert result.returncode == 0, result.stderr
            yield {"honest": honest, "attacks": attacks, "stdout": result.stdout,
                   "report": json.loads((work / "report.json").read_text()),
                   "emulator": emulator.stats()}
    finally:
        if prom is not None:
            prom.stop()
        emulator.stop()


def honest_truth(honest: list[requests.Response]) -> list[VariantData]:
    """Each arm's aggregates from the client's records: the answers the arm made itself
    (X-Cache: miss), every one billed TOKENS_PER_CALL (one Gemini call, fixed usage)."""
    rows: dict[str, Counter] = {v["name"]: Counter() for v in EXPERIMENT["variants"]}
    for response in honest:
        assert response.status_code == 200
        if response.headers["X-Cache"] == "hit":
            rows[response.headers["X-Experiment-Variant"]]["cached"] += 1
            continue
        body = response.json()
        row = rows[response.headers["X-Experiment-Variant"]]
        row["fallback" if body["fallback_used"] else "success"] += 1
        matched = any(m["confidence"] >= MATCH for m in body["matches"])
        row["matched" if matched else "unmatched"] += 1
        if body["matches"]:
            row["confidence_n"] += 1
            row["confidence_sum"] += body["average_confidence"]
            row["confidence_sq"] += body["average_confidence"] ** 2
        row["tokens_sum"] += TOKENS_PER_CALL
        row["tokens_sq"] += TOKENS_PER_CALL ** 2
    return [VariantData(name=name, share=0.5, **row) for name, row in rows.items()]


def test_an_ordinary_key_cannot_force_and_the_qa_key_is_answered(attacked):
    assert {r.status_code for r in attacked["attacks"]["mallory"]} == {403}
    assert {r.json()["error"] for r in attacked["attacks"]["mallory"]} == \
        {"variant_forcing_forbidden"}
    qa = attacked["attacks"]["qa"]
    assert {r.status_code for r in qa} == {200}
    assert Counter(r.headers["X-Experiment-Variant"] for r in qa) == {"treat": ATTACK,
                                                                     "control": ATTACK}
    hits = sum(r.headers["X-Cache"] == "hit" for r in qa)
    assert hits == ATTACK - 1  # the repeated passage: one miss, then the cache


def test_the_report_reads_the_honest_traffic_only_and_finds_no_winner(attacked):
    report = attacked["report"]
    truth = honest_truth(attacked["honest"])
    expected = analyse(EXPERIMENT["name"], truth, "1h")
    assert report["verdict"] == expected.verdict, attacked["stdout"]
    assert [v.answered for v in truth] and min(v.answered for v in truth) >= \
        expected.min_sample_size, "the honest traffic must reach the sample floor"
    assert report["forced"] == 2 * ATTACK  # the QA key's; mallory's never got in
    assert report["cache_hits"] == sum(v.cached for v in truth)
    for row, want in zip(report["variants"], expected.variants):
        assert row["name"] == want["name"]
        assert row["requests"] == pytest.approx(want["requests"], abs=0.5)
        assert row["forced"] == ATTACK
        for metric in ("success_rate", "match_rate", "mean_confidence",
                       "tokens_per_request"):
            assert row[metric] == pytest.approx(want[metric], rel=1e-6), metric
    assert report["srm_p_value"] == pytest.approx(expected.srm_p_value, rel=1e-6)
    assert not report["srm"]
    for got, want in zip(report["comparisons"], expected.comparisons):
        assert (got["metric"], got["significant"]) == (want.metric, want.significant)
    assert report["verdict"] == expected.verdict
    assert report["verdict"].startswith("no winner: no significant difference")
    assert "Left out of the comparison: 600 forced requests" in attacked["stdout"]
