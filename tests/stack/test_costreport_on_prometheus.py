"""The cost report (ai_assist/costreport) produced from a real Prometheus after the
stack's traffic, every figure checked against that traffic's truth (the emulator's
counters and fixed usage, the client's records, the price table applied by the test:
tests/harness/truth.py); rendered again from its own aggregates byte for byte; and a
window without traffic reads zeros, not errors. The committed example:
tests/unit/test_costreport.py."""

from __future__ import annotations

import re

import pytest
from ai_assist.costreport.__main__ import main
from ai_assist.costreport.aggregates import Aggregates
from ai_assist.costreport.analysis import Figures

from tests.harness.proof import tolerances, truth_of
from tests.harness.truth import SECONDS_PER_MONTH

WINDOW_S = 3600  # holds the stack's whole life, lead-in and traffic


def test_the_report_from_a_real_prometheus_shows_the_traffic(stack_with_traffic, tmp_path):
    stack = stack_with_traffic
    truth, at, interval_s = truth_of(stack)
    out = tmp_path / "report"
    assert main(["--prometheus", stack.prom.url, "--window", "1h", "--at", str(at),
                 "--out", str(out)]) == 0
    a = Aggregates.load(out / "aggregates.json")
    f = Figures(a)
    # increase() extrapolates each counter to the window's end: up to a scrape over the span
    approx = lambda want: pytest.approx(want, **tolerances(stack, "count", at, interval_s))

    tokens = truth.tokens()
    assert tokens["cached_input"] > 0  # the stack's emulator reports cached prompt tokens
    assert a.tokens == {stack.model: approx(tokens)}
    assert f.total_usd == approx(truth.cost_usd())
    assert f.spend[stack.model]["cached_input"] == approx(
        tokens["cached_input"] * 0.03 / 1e6)  # Gemini 2.5 Flash's cached input price
    assert f.projected_month_usd == approx(truth.cost_usd() / WINDOW_S * SECONDS_PER_MONTH)
    assert f.recorded_month_usd == approx(truth.cost_usd() / 86400 * SECONDS_PER_MONTH)
    assert a.answered == approx(truth.answered)
    assert f.ok_calls == approx(truth.call_outcomes()["ok"])
    assert f.tokens_per_request == approx(sum(tokens.values()) / truth.answered)
    assert f.prompt_tokens_per_call == approx(truth.prompt_tokens() / truth.call_outcomes()["ok"])
    wasted = {k: v for k, v in truth.wasted().items() if v}
    assert wasted and {k: v for k, v in a.wasted.items() if v} == approx(wasted)
    assert f.wasted_share == approx(sum(truth.wasted().values()) / sum(tokens.values()))
    assert f.retries == approx(truth.retries())
    assert f.duplicate_share == approx(truth.duplicates() / truth.answered)
    assert f.cache_hits == 0 and f.cache_saved_usd == 0  # the stack runs without the cache
    assert f.canary_usd == 0  # and without the canary
    # the trend's steps add up to the window's tokens and requests
    assert sum(tokens for _, tokens, _ in a.trend) == approx(sum(truth.tokens().values()))
    assert sum(requests for _, _, requests in a.trend) == approx(truth.answered)

    # every suggestion carries a positive monthly figure, and the repeat share backs one
    savings = f.savings()
    assert savings and all(s.usd_per_month > 0 for s in savings)
    cache = next(s for s in savings if "response cache" in s.what)
    # the repeats at the users' average spend per answered request (no canary here)
    assert cache.usd_per_month == approx(truth.duplicates() * truth.cost_usd() / truth.answered
                                         / WINDOW_S * SECONDS_PER_MONTH)
    markdown = (out / "costreport.md").read_text()
    assert f"| Requests answered | {a.answered:,.0f} |" in markdown
    shown = re.search(rf"^\| {re.escape(cache.what)} \| \$([\d,.]+) \|", markdown, re.M)
    assert shown and float(shown.group(1).replace(",", "")) == pytest.approx(
        cache.usd_per_month, rel=5e-3)  # three significant figures at least
    assert "<table>" in (out / "costreport.html").read_text()
    for name in ("spend-by-type.png", "tokens-per-request.png", "savings.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")

    # rendered again from its own aggregates: the same files
    assert main(["--from-aggregates", str(out / "aggregates.json"), "--out", str(out),
                 "--check"]) == 0


def test_a_window_without_traffic_reads_zeros(stack_with_traffic, tmp_path):
    stack = stack_with_traffic
    before = stack.traffic.started_at - stack.lead_in_s / 2  # inside the lead-in of zeroes
    assert main(["--prometheus", stack.prom.url, "--window", "10s", "--at", str(before),
                 "--out", str(tmp_path)]) == 0
    f = Figures(Aggregates.load(tmp_path / "aggregates.json"))
    assert f.total_usd == 0 and f.tokens_per_request == 0 and f.savings() == []
    assert "Nothing to suggest" in (tmp_path / "costreport.md").read_text()
