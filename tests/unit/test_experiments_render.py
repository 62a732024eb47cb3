"""The A/B report as it is written (ai_assist/experiments/render.py), from the fixed
aggregates of the committed example: rate differences in percentage points, readable
metric names, small dollars with three significant figures, the HTML with its plots,
the example fresh; and both reports' queries carry --namespace. Figures are computed
here from the aggregates by hand, not by the code under test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ai_assist.costreport import aggregates as cost_aggregates
from ai_assist.experiments import example
from ai_assist.experiments import report as reporting
from ai_assist.experiments.__main__ import main
from ai_assist.experiments.stats import METRICS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "experiment"


def _rows(markdown: str) -> dict[str, list[str]]:
    """The comparison table's rows by metric name."""
    section = markdown.split("## Each variant against the control")[1].split("\n\n")[1]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in section.splitlines()[2:]]
    return {row[1]: row for row in rows}


def test_rate_differences_are_percentage_points_and_means_relative():
    rows = _rows(example.markdown())
    # success: control 2361 of 2412, six 2340 of 2388 (example.py's aggregates)
    pp = (2340 / 2388 - 2361 / 2412) * 100
    assert rows["success rate"][4] == f"{pp:+.2f} pp" == "+0.10 pp"
    assert rows["success rate"][2:4] == ["97.89%", "97.99%"]
    assert rows["match rate"][4] == f"{(2262 / 2388 - 2290 / 2412) * 100:+.2f} pp"
    # tokens per request: means 2210 and 1405 as planted, -805 tokens, -36.4 %
    assert rows["tokens per request"][4] == f"-805 ({-805 / 2210:+.1%})"
    for metric in ("success rate", "fallback rate", "match rate"):
        assert rows[metric][4].endswith(" pp") and "%" not in rows[metric][4]


def test_names_are_readable_and_small_dollars_keep_three_figures():
    markdown = example.markdown()
    for key in METRICS:
        assert key not in markdown, f"{key} written as a code name"
    # cost per request: 0.00101 and 0.00077 USD as planted
    variants = markdown.split("## Variants")[1]
    assert "| $0.00101 |" in variants and "| $0.000770 |" in variants
    assert "a match-rate change of 5 pp" in markdown
    assert "better on tokens per request, worse on mean confidence" in markdown


def test_the_html_holds_the_tables_and_its_plots(tmp_path):
    page = (EXAMPLE / "report.html").read_text()
    assert page.count("<table>") == 2
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images == ["report-variants.png", "report-differences.png"]
    for name in images:
        assert (EXAMPLE / name).read_bytes().startswith(b"\x89PNG")
    # a live report writes the same kinds of files
    built = example.report()
    reporting.write(built, None, str(tmp_path / "ab.json"), str(tmp_path / "ab.html"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ab-differences.png", "ab-variants.png", "ab.html", "ab.json"]
    assert json.loads((tmp_path / "ab.json").read_text())["experiment"] == example.EXPERIMENT


def test_the_committed_example_is_fresh_and_a_stale_plot_fails(tmp_path, capsys):
    assert main(["example", "--check"]) == 0, capsys.readouterr().err
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in EXAMPLE.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "report-differences.png").write_bytes(b"\x89PNG edited")
    paths = ["--markdown", str(copy / "report.md"), "--json", str(copy / "report.json"),
             "--html", str(copy / "report.html")]
    assert main(["example", *paths, "--check"]) == 1
    assert "report-differences.png is stale" in capsys.readouterr().err
    assert main(["example", *paths]) == 0 and main(["example", *paths, "--check"]) == 0


class Recording:
    """A Prometheus that answers nothing but the experiment's weights, and keeps every
    query it was asked."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def query(self, expr: str, at: float | None = None):
        self.queries.append(expr)
        if "last_over_time" in expr:
            return [({"experiment": "e", "variant": v}, 0.5) for v in ("control", "b")]
        return []


@pytest.mark.parametrize("which", ["cost", "experiment"])
def test_every_query_of_a_report_reads_the_namespace_it_is_given(which):
    prom = Recording()
    if which == "cost":
        cost_aggregates.collect(prom, "1h", at=1_000_000.0, namespace="team-a")
    else:
        reporting.collect(prom, "1h", at=1_000_000.0, namespace="team-a")
    assert len(prom.queries) > 8
    for expr in prom.queries:
        selectors = re.findall(r"[a-z_:]+\{[^}]*\}|[a-z_:]+\[", expr)
        assert selectors, expr
        for selector in selectors:
            assert 'namespace="team-a"' in selector, f"{selector} in {expr}"
    # and without one, none does
    prom = Recording()
    cost_aggregates.collect(prom, "1h", at=1_000_000.0)
    assert not any("namespace" in expr for expr in prom.queries)
