"""The A/B report end to end: `python -m ai_assist.experiments report` against the real
Prometheus of the session stack, after its traffic (both replicas run the experiment in
tests/conftest.py; every request's variant is in the client's records, from the header
the service answers with). Its figures are checked against that traffic's truth."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections import Counter

import pytest
from ai_assist.experiments.stats import min_sample_size
from ai_assist.telemetry.metrics import REQUEST_BUCKETS

from tests.harness import prices
from tests.harness.processes import python_env
from tests.harness.traffic import MATCH_CONFIDENCE

@pytest.fixture(scope="module")
def report(stack_with_traffic, tmp_path_factory):
    stack = stack_with_traffic
    out = tmp_path_factory.mktemp("experiment-report")
    result = subprocess.run(
        [sys.executable, "-m", "ai_assist.experiments", "report", "--prometheus",
         stack.prom.url, "--window", "1h", "--at", f"{stack.query_time:.3f}",
         "--markdown", str(out / "report.md"), "--json", str(out / "report.json"),
         "--html", str(out / "report.html")],
        capture_output=True, text=True, timeout=120, check=False, env=python_env({}))
    assert result.returncode == 0, result.stderr
    assert "Verdict:" in result.stdout
    assert "# A/B report: stack-candidates" in (out / "report.md").read_text()
    assert "<h1>A/B report: stack-candidates" in (out / "report.html").read_text()
    for plot in ("report-variants.png", "report-differences.png"):
        assert (out / plot).read_bytes().startswith(b"\x89PNG")
    return json.loads((out / "report.json").read_text())


def test_the_report_reads_each_variant_as_the_client_saw_it(stack_with_traffic, report):
    stack = stack_with_traffic
    names = [v["name"] for v in stack.experiment["variants"]]
    weights = {v["name"]: v["weight"] for v in stack.experiment["variants"]}
    assert report["experiment"] == stack.experiment["name"]
    assert [v["name"] for v in report["variants"]] == names  # control first
    # counts carry increase()'s extrapolation to the window's end: one scrape over the span
    # (and a ratio of sums over two replicas, each extrapolated its own way, as much)
    span = stack.query_time - stack.traffic.started_at + stack.lead_in_s
    count_tolerance = 2.5 * stack.scrape_interval_s / span
    for row in report["variants"]:
        sent = [r for r in stack.traffic.records if r.variant == row["name"]]
        answers = [r for r in sent if r.code == 200]
        statuses = Counter(r.status for r in sent)
        assert row["share"] == pytest.approx(weights[row["name"]] / sum(weights.values()))
        assert row["requests"] == pytest.approx(len(sent), rel=count_tolerance, abs=0.5)
        n = len(sent)
        assert row["success_rate"] == pytest.approx(statuses["success"] / n, abs=1 / n)
        assert row["fallback_rate"] == pytest.approx(statuses["fallback"] / n, abs=1 / n)
        matched = sum(any(m["confidence"] >= MATCH_CONFIDENCE for m in r.matches)
                      for r in answers)
        assert row["match_rate"] == pytest.approx(matched / len(answers), abs=1 / n)
        confidences = [r.body["average_confidence"] for r in answers if r.matches]
        assert row["mean_confidence"] == pytest.approx(statistics.fmean(confidences),
                                                       rel=count_tolerance)
        assert row["mean_confidence_sd"] == pytest.approx(statistics.stdev(confidences),
                                                          rel=0.02, abs=1e-4)
        # histogram_quantile interpolates inside a bucket: never above the bound of the
        # bucket that holds the slowest request the client saw
        slowest = max(r.seconds for r in sent)
        assert 0 < row["latency_p95_s"] <= min(b for b in REQUEST_BUCKETS if b >= slowest)
        # tokens: the emulator's own count by candidates in the prompt (only "six" sends 6)
        billed = billed_by_variant(stack)[row["name"]]
        assert row["tokens_per_request"] == pytest.approx(
            (billed["prompt"] + billed["output"] + billed["thinking"]) / n,
            rel=count_tolerance)
        cost = prices.usd(stack.model, {"input": billed["prompt"] - billed["cached"],
                                        "cached_input": billed["cached"],
                                        "output": billed["output"],
                                        "thinking": billed["thinking"]})
        assert row["cost_per_request_usd"] == pytest.approx(cost / n, rel=count_tolerance)


def billed_by_variant(stack) -> dict[str, dict[str, float]]:
    stats = stack.emulator.stats()
    six = {k: stats["tokens_by_candidates"].get("6", {}).get(k, 0) for k in stats["tokens"]}
    return {"six": six, "control": {k: v - six[k] for k, v in stats["tokens"].items()}}


def test_the_report_finds_the_planted_difference_and_a_fair_split(stack_with_traffic,
                                                                   report):
    """The split follows the weights (SRM p ~ 1); "six" hands Gemini 6 candidates,
    which the emulator answers less confidently (tests/conftest.py): the report
    measures the difference the client saw, significant after Holm's correction."""
    stack = stack_with_traffic
    assert not report["srm"] and report["srm_p_value"] > 0.5
    mean = {}
    for name in ("control", "six"):
        mean[name] = statistics.fmean(r.body["average_confidence"]
                                      for r in stack.traffic.records
                                      if r.variant == name and r.code == 200 and r.matches)
    (confidence,) = [c for c in report["comparisons"] if c["metric"] == "mean_confidence"]
    assert confidence["difference"] == pytest.approx(mean["six"] - mean["control"], abs=1e-3)
    assert confidence["difference"] < 0
    assert confidence["significant"] and confidence["better"] is False, confidence
    assert report["verdict"].startswith(("no winner yet", "no winner (six trades off",
                                         "no winner (six is worse"))
    (control,) = [v for v in report["variants"] if v["name"] == report["control"]]
    assert report["min_sample_size"] == min_sample_size(control["match_rate"])
