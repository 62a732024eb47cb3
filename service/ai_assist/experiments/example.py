"""The documentation's example A/B report, built from fixed aggregates (no live stack needed),
so `make experiment-example` regenerates docs/examples/experiment/report.{md,json,html}
and the HTML's plots byte for byte and `make check-generated` checks them fresh.

The aggregates are what the report would read from Prometheus after a week of an
experiment that hands Gemini 6 candidates instead of 12: fewer prompt tokens, a slightly
lower confidence (what the Gemini emulator plants with confidence_per_missing_candidate),
the same success and match rates. Some requests of each variant were cache hits, and a
QA key forced a few: both are left out of the compared figures (ai_assist/experiments/
stats.py).
"""

from __future__ import annotations

import filecmp
import json
import shutil
import sys
import tempfile
from pathlib import Path

from ai_assist.experiments.render import to_markdown, write_html
from ai_assist.experiments.stats import VariantData, analyse

EXPERIMENT = "fewer-candidates"
WINDOW = "7d"


def _moments(n: int, mean: float, sd: float) -> tuple[float, float]:
    """(sum, sum of squares) of n values with this mean and sample standard deviation."""
    return n * mean, (n - 1) * sd * sd + n * mean * mean


def aggregates() -> list[VariantData]:
    rows = []
    for name, n, success, fallback, matched, conf, tokens, cost, p50, p95, cached, forced in (
            ("control", 2412, 2361, 51, 2290, (0.861, 0.052), (2210.0, 240.0), 0.00101,
             1.42, 3.9, 214, 12),
            ("six", 2388, 2340, 48, 2262, (0.803, 0.058), (1405.0, 170.0), 0.00077,
             1.31, 3.6, 203, 12)):
        conf_n = n - 12
        c_sum, c_sq = _moments(conf_n, *conf)
        t_sum, t_sq = _moments(n, *tokens)
        rows.append(VariantData(
            name=name, share=0.5, success=success, fallback=fallback,
            error=n - success - fallback, matched=matched, unmatched=n - matched,
            confidence_n=conf_n, confidence_sum=c_sum, confidence_sq=c_sq,
            tokens_sum=t_sum, tokens_sq=t_sq, cost_usd=cost * n,
            latency_p50_s=p50, latency_p95_s=p95, cached=cached, forced=forced))
    return rows


NOTE = ("> Example output of `python -m ai_assist.experiments report --prometheus URL "
        "--window 7d --markdown ... --html ...`, generated from the fixed aggregates in "
        "`service/ai_assist/experiments/example.py` by `make experiment-example` "
        "(checked fresh by `make check-generated`).\n\n")


def report():
    return analyse(EXPERIMENT, aggregates(), WINDOW)


def markdown() -> str:
    return NOTE + to_markdown(report())


def _build(markdown_path: str, json_path: str, html_path: str, out: Path) -> dict[str, Path]:
    """Every file of the example, built into `out`: {where it is committed: built file}."""
    built = report()
    files = {Path(markdown_path): out / "report.md", Path(json_path): out / "report.json"}
    (out / "report.md").write_text(markdown(), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(built.to_json(), indent=2, sort_keys=True)
                                     + "\n", encoding="utf-8")
    html = Path(html_path)
    written = write_html(built, out / html.name, NOTE)
    files.update({html.parent / p.name: p for p in written})
    return files


def check_or_write(markdown_path: str, json_path: str, html_path: str, check: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        files = _build(markdown_path, json_path, html_path, Path(tmp))
        stale = [str(committed) for committed, fresh in files.items()
                 if not committed.exists()
                 or not filecmp.cmp(committed, fresh, shallow=False)]
        if check:
            for path in stale:
                print(f"{path} is stale: run `make experiment-example`", file=sys.stderr)
            return 1 if stale else 0
        for committed, fresh in files.items():
            committed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fresh, committed)
    return 0
