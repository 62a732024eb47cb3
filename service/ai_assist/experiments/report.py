"""`python -m ai_assist.experiments report --prometheus URL --window 7d`: the A/B report.

Every figure comes from Prometheus (increase() over the window, summed over replicas),
the statistics from ai_assist/experiments/stats.py, the prices from ai_assist/pricing.py.
Prints a table; writes Markdown and JSON where asked.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

import requests

from ai_assist.experiments.definition import VARIANT_NONE
from ai_assist.experiments.stats import (
    DEFAULT_MDE,
    METRICS,
    POWER,
    SRM_ALPHA,
    Report,
    VariantData,
    analyse,
)
from ai_assist.pricing import PRICES
from ai_assist.telemetry import metrics as M

WINDOW = re.compile(r"^\d+[smhdwy]$")
LABELS = {"success_rate": "success rate", "fallback_rate": "fallback rate",
          "match_rate": "match rate", "mean_confidence": "mean confidence",
          "tokens_per_request": "tokens / request"}


class ReportError(RuntimeError):
    pass


class Prometheus:
    def __init__(self, url: str, at: float | None = None, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.at = at
        self.timeout = timeout

    def query(self, expr: str) -> list[tuple[dict, float]]:
        params = {"query": expr}
        if self.at is not None:
            params["time"] = f"{self.at:.3f}"
        try:
            response = requests.get(f"{self.url}/api/v1/query", params=params,
                                    timeout=self.timeout)
        except requests.RequestException as exc:
            raise ReportError(f"Prometheus at {self.url} cannot be reached: {exc}") from exc
        if response.status_code != 200:
            raise ReportError(f"Prometheus answered {response.status_code} to {expr!r}: "
                              f"{response.text[:300]}")
        return [(r["metric"], float(r["value"][1])) for r in response.json()["data"]["result"]]


def _increase(metric: str, window: str, by: str, matchers: str = "") -> str:
    selector = f'{metric}{{variant!="{VARIANT_NONE}"{", " + matchers if matchers else ""}}}'
    return f"sum by ({by}) (increase({selector}[{window}]))"


def collect(prom: Prometheus, window: str, experiment: str | None = None
            ) -> tuple[str, list[VariantData]]:
    """The running experiment's name and each variant's aggregates over the window."""
    weights = prom.query(f"max by (experiment, variant) "
                         f"(last_over_time({M.EXPERIMENT_VARIANT_WEIGHT}[{window}]))")
    experiments = sorted({labels["experiment"] for labels, _ in weights})
    if not experiments:
        raise ReportError(f"no experiment ran in the last {window} "
                          f"({M.EXPERIMENT_VARIANT_WEIGHT} has no series)")
    if experiment is None:
        if len(experiments) > 1:
            raise ReportError(f"several experiments ran in the last {window} "
                              f"({', '.join(experiments)}): choose one with --experiment")
        experiment = experiments[0]
    elif experiment not in experiments:
        raise ReportError(f"experiment {experiment!r} did not run in the last {window} "
                          f"(seen: {', '.join(experiments)})")
    shares = {labels["variant"]: value for labels, value in weights
              if labels["experiment"] == experiment}
    data: dict[str, dict] = defaultdict(dict)

    def by_variant(expr: str, key: str, label: str | None = None) -> None:
        for labels, value in prom.query(expr):
            name = labels.get("variant")
            if name in shares:
                field = labels[label] if label else key
                data[name][field] = data[name].get(field, 0.0) + value

    by_variant(_increase(M.REQUESTS_TOTAL, window, "variant, status"), "", "status")
    by_variant(_increase(M.MATCH_RESULTS_TOTAL, window, "variant, result"), "", "result")
    by_variant(_increase(f"{M.CONFIDENCE}_count", window, "variant"), "confidence_n")
    by_variant(_increase(f"{M.CONFIDENCE}_sum", window, "variant"), "confidence_sum")
    by_variant(_increase(M.CONFIDENCE_SQUARES_TOTAL, window, "variant"), "confidence_sq")
    by_variant(_increase(M.REQUEST_TOKENS_TOTAL, window, "variant"), "tokens_sum")
    by_variant(_increase(M.REQUEST_TOKENS_SQUARES_TOTAL, window, "variant"), "tokens_sq")
    by_variant(_increase(M.EXPERIMENT_EXCLUDED_TOTAL, window, "variant, reason"), "",
               "reason")
    for labels, value in prom.query(_increase(M.GEMINI_TOKENS_TOTAL, window,
                                              "variant, model, type")):
        name, model = labels.get("variant"), labels.get("model")
        if name in shares and model in PRICES:
            price = PRICES[model].per_million_usd(labels["type"])
            data[name]["cost_usd"] = data[name].get("cost_usd", 0.0) + value * price / 1e6
    for q, key in ((0.5, "latency_p50_s"), (0.95, "latency_p95_s")):
        buckets = _increase(f"{M.REQUEST_DURATION}_bucket", window, "variant, le")
        by_variant(f"histogram_quantile({q:g}, {buckets})", key)
    variants = []
    for name in _ordered(shares):
        row = data.get(name, {})
        variants.append(VariantData(
            name=name, share=shares[name],
            success=row.get("success", 0), fallback=row.get("fallback", 0),
            error=row.get("error", 0), cancelled=row.get("cancelled", 0),
            matched=row.get("matched", 0), unmatched=row.get("unmatched", 0),
            confidence_n=row.get("confidence_n", 0),
            confidence_sum=row.get("confidence_sum", 0.0),
            confidence_sq=row.get("confidence_sq", 0.0),
            tokens_sum=row.get("tokens_sum", 0.0), tokens_sq=row.get("tokens_sq", 0.0),
            cost_usd=row.get("cost_usd", 0.0),
            latency_p50_s=_number(row.get("latency_p50_s")),
            latency_p95_s=_number(row.get("latency_p95_s")),
            forced=row.get("forced", 0), cached=row.get("cached", 0)))
    return experiment, variants


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _ordered(shares: dict[str, float]) -> list[str]:
    """The control first: the variant named `control` if there is one, else the
    alphabetical first (Prometheus does not keep the file's order)."""
    names = sorted(shares)
    if "control" in names:
        names.remove("control")
        names.insert(0, "control")
    return names


# --- rendering -----------------------------------------------------------------------
def _fmt(value, kind: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "usd":
        return f"${value:.6f}"
    if kind == "s":
        return f"{value:.3f} s"
    if kind == "p":
        return f"{value:.3g}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


VARIANT_COLUMNS = (("variant", "name", ""), ("share", "share", "pct"),
                   ("requests", "requests", ""),
                   ("cache hits", "cache_hits", ""), ("forced", "forced", ""),
                   ("success", "success_rate", "pct"),
                   ("fallback", "fallback_rate", "pct"), ("match", "match_rate", "pct"),
                   ("confidence", "mean_confidence", ""),
                   ("tokens/req", "tokens_per_request", ""),
                   ("cost/req", "cost_per_request_usd", "usd"),
                   ("p50", "latency_p50_s", "s"), ("p95", "latency_p95_s", "s"))


def _variant_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = [c[0] for c in VARIANT_COLUMNS]
    rows = [[_fmt(v[key], kind) for _, key, kind in VARIANT_COLUMNS] for v in report.variants]
    return header, rows


def _comparison_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "metric", report.control, "variant value", "difference", "p",
              "p (Holm)", "significant"]
    rows = []
    for c in report.comparisons:
        kind = "pct" if METRICS[c.metric][0] == "proportion" else ""
        sign = "" if not c.significant else (" (better)" if c.better else " (worse)")
        rows.append([c.variant, LABELS[c.metric], _fmt(c.control_value, kind),
                     _fmt(c.variant_value, kind),
                     (f"{c.difference:+.1%}" if kind == "pct" else f"{c.difference:+.4g}")
                     if c.difference == c.difference else "-",
                     _fmt(c.p_value, "p"), _fmt(c.p_adjusted, "p"),
                     ("yes" if c.significant else "no") + sign])
    return header, rows


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in rows)])


def _summary(report: Report) -> list[str]:
    srm = "-" if report.srm_p_value is None else f"{report.srm_p_value:.3g}"
    return [(f"Sample-ratio check: chi-square p = {srm} "
             f"({'MISMATCH' if report.srm else 'ok'}; flagged below {SRM_ALPHA:g})"),
            (f"Left out of the comparison: {report.forced} forced requests "
             f"(X-Experiment-Variant, QA credentials only; not in any figure) and "
             f"{report.cache_hits} cache hits (they repeat answers already counted, made "
             f"cheap and fast by the cache, not the variant; not in any figure or check)"),
            (f"Minimum sample size: {report.min_sample_size} answered requests per variant "
             f"(match rate change of {report.mde:.0%}, alpha {report.alpha:g}, "
             f"power {POWER:g})"),
            f"Verdict: {report.verdict}"]


def to_text(report: Report) -> str:
    title = f"Experiment {report.experiment}" + (f", last {report.window}" if report.window
                                                  else "")
    return "\n\n".join([title, _text_table(*_variant_rows(report)),
                        _text_table(*_comparison_rows(report)), "\n".join(_summary(report))])


def to_markdown(report: Report) -> str:
    title = f"# A/B report: {report.experiment}" + (
        f" (last {report.window})" if report.window else "")
    return "\n\n".join([
        title, "## Variants", _markdown_table(*_variant_rows(report)),
        f"## Each variant against the control ({report.control})",
        _markdown_table(*_comparison_rows(report)),
        ("Rates: two-proportion z-test; means: Welch's t-test from count, sum and sum of "
         "squares; p-values adjusted over every comparison with Holm's method."),
        "## Checks and verdict", "\n".join(f"- {line}" for line in _summary(report))]) + "\n"


def write(report: Report, markdown: str | None, json_path: str | None) -> None:
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(to_markdown(report), encoding="utf-8")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report.to_json(), indent=2, sort_keys=True)
                                   + "\n", encoding="utf-8")


def build(prometheus: str, window: str, experiment: str | None = None,
          mde: float = DEFAULT_MDE, at: float | None = None) -> Report:
    if not WINDOW.match(window):
        raise ReportError(f"--window {window!r}: use a Prometheus duration such as 7d, "
                          "24h or 30m")
    name, variants = collect(Prometheus(prometheus, at), window, experiment)
    return analyse(name, variants, window, mde)
