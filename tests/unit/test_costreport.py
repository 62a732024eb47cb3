"""The cost report (ai_assist/costreport): an unreachable Prometheus is a clear error, the
committed example is fresh and its figures agree with the aggregates and the price page.
The report from a real Prometheus after the stack's traffic:
tests/stack/test_costreport_on_prometheus.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ai_assist.costreport.__main__ import main
from ai_assist.costreport.aggregates import Aggregates
from ai_assist.costreport.analysis import Figures

from tests.harness.prices import usd
from tests.harness.truth import SECONDS_PER_MONTH

ROOT = Path(__file__).resolve().parents[2]


def test_an_unreachable_prometheus_is_a_clear_error(tmp_path, capsys):
    assert main(["--prometheus", "http://127.0.0.1:9", "--window", "7d",
                 "--out", str(tmp_path)]) == 2
    assert "cannot be reached" in capsys.readouterr().err


def test_the_committed_example_is_fresh_and_a_stale_one_fails(tmp_path, capsys):
    example = ROOT / "docs" / "examples" / "costreport"
    check = ["--from-aggregates", str(example / "aggregates.json"), "--check"]
    assert main([*check, "--out", str(example)]) == 0, capsys.readouterr().err
    # its experiment ran 12 and 6 candidates: the slope between them is the measured figure
    figures = Figures(Aggregates.load(example / "aggregates.json"))
    control, six = (v["prompt_tokens"] / v["answers"] for v in
                    (figures.a.experiment["control"], figures.a.experiment["six"]))
    per_candidate, how = figures.tokens_per_candidate()
    assert per_candidate == pytest.approx((control - six) / 6) and how.startswith("measured")
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in example.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "costreport.md").write_text("edited by hand\n")
    assert main([*check, "--out", str(copy)]) == 1
    assert "stale" in capsys.readouterr().err


def test_the_example_leaves_the_canary_out_of_the_cache_and_says_the_savings_overlap():
    """Against figures computed here from the committed aggregates and the price page:
    the cache would save the users' repeats at the users' spend per request (the canary's
    checks skip the cache), and the suggestions, which overlap, are combined so that no
    overlap counts twice; the report says that their sum is more than the spend."""
    example = ROOT / "docs" / "examples" / "costreport"
    a = Aggregates.load(example / "aggregates.json")
    f = Figures(a)
    spend = sum(usd(model, by_type) for model, by_type in a.tokens.items())
    canary = sum(usd(model, by_type) for model, by_type in a.canary_tokens.items())
    assert canary > 0  # the example's canary ran
    per_month = SECONDS_PER_MONTH / a.window_s
    answered = sum(a.requests[s] for s in ("success", "fallback", "error"))
    assert f.cache_projected_month_usd == pytest.approx(
        a.duplicates * (spend - canary) / answered * per_month, rel=1e-9)

    savings = f.savings()
    cutting = [s.usd_per_month for s in savings if s.cuts_spend]
    month = spend * per_month
    assert len(cutting) >= 3 and sum(cutting) > month  # they overlap: the sum is too much
    left = 1.0
    for saving in cutting:
        left *= 1 - saving / month
    assert f.combined_saving() == pytest.approx(month * (1 - left), rel=1e-9)
    assert max(cutting) < f.combined_saving() < month
    markdown = (example / "costreport.md").read_text()
    assert "The suggestions overlap" in markdown
    together = re.search(r"save about \*\*\$([\d,.]+) a month\*\*", markdown)
    assert float(together.group(1).replace(",", "")) == pytest.approx(f.combined_saving(),
                                                                      abs=0.005)
    assert f"more than the projected month, ${month:,.2f}" in markdown
