"""`python -m ai_assist.experiments report --prometheus URL --window 7d`: the A/B report.

Every figure comes from Prometheus (increase() over the window, summed over replicas),
the statistics from ai_assist/experiments/stats.py, the prices from ai_assist/pricing.py.
Prints a table; writes Markdown, JSON and HTML with plots (ai_assist/experiments/render.py)
where asked. With --namespace, every query reads one deployment's series.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

from ai_assist.experiments.definition import VARIANT_NONE
from ai_assist.experiments.render import to_markdown, to_text, write_html
from ai_assist.experiments.stats import DEFAULT_MDE, Report, VariantData, analyse
from ai_assist.pricing import PRICES, usd
from ai_assist.telemetry import metrics as M
from observability.promapi import Prometheus, PrometheusError
from observability.promql import Scope, sel, sum_increase
from observability.selectors import SELECTORS

__all__ = ["ReportError", "build", "collect", "to_markdown", "to_text", "write"]

WINDOW = re.compile(r"^\d+[smhdwy]$")


class ReportError(RuntimeError):
    pass


def _scope(namespace: str = "") -> Scope:
    """Experiment traffic (variant!="none"), of one deployment when `namespace` is given."""
    return Scope(", ".join([f'variant!="{VARIANT_NONE}"',
                            *([SELECTORS.in_namespace(namespace)] if namespace else [])]))


def collect(prom: Prometheus, window: str, experiment: str | None = None,
            at: float | None = None, namespace: str = "") -> tuple[str, list[VariantData]]:
    """The running experiment's name and each variant's aggregates over the window that
    ends at `at` (now by default), of one deployment when `namespace` is given."""
    m = _scope(namespace)
    query = lambda expr: prom.query(expr, at)
    increase = lambda metric, by, matchers="": query(sum_increase(metric, window, matchers,
                                                                  m, by))
    weight = sel(M.EXPERIMENT_VARIANT_WEIGHT,
                 SELECTORS.in_namespace(namespace) if namespace else "")
    weights = query(f"max by (experiment, variant) (last_over_time({weight}[{window}]))")
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

    def by_variant(samples, key: str, label: str | None = None) -> None:
        for labels, value in samples:
            name = labels.get("variant")
            if name in shares:
                field = labels[label] if label else key
                data[name][field] = data[name].get(field, 0.0) + value

    by_variant(increase(M.REQUESTS_TOTAL, "variant, status"), "", "status")
    by_variant(increase(M.MATCH_RESULTS_TOTAL, "variant, result"), "", "result")
    by_variant(increase(f"{M.CONFIDENCE}_count", "variant"), "confidence_n")
    by_variant(increase(f"{M.CONFIDENCE}_sum", "variant"), "confidence_sum")
    by_variant(increase(M.CONFIDENCE_SQUARES_TOTAL, "variant"), "confidence_sq")
    by_variant(increase(M.REQUEST_TOKENS_TOTAL, "variant"), "tokens_sum")
    by_variant(increase(M.REQUEST_TOKENS_SQUARES_TOTAL, "variant"), "tokens_sq")
    by_variant(increase(M.EXPERIMENT_EXCLUDED_TOTAL, "variant, reason"), "",
               "reason")
    for labels, value in increase(M.GEMINI_TOKENS_TOTAL, "variant, model, type"):
        name, model = labels.get("variant"), labels.get("model")
        if name in shares and model in PRICES:
            cost = usd(model, {labels["type"]: value})
            data[name]["cost_usd"] = data[name].get("cost_usd", 0.0) + cost
    for q, key in ((0.5, "latency_p50_s"), (0.95, "latency_p95_s")):
        buckets = sum_increase(f"{M.REQUEST_DURATION}_bucket", window, m=m, by="variant, le")
        by_variant(query(f"histogram_quantile({q:g}, {buckets})"), key)
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


def write(report: Report, markdown: str | None, json_path: str | None,
          html_path: str | None = None) -> None:
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(to_markdown(report), encoding="utf-8")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report.to_json(), indent=2, sort_keys=True)
                                   + "\n", encoding="utf-8")
    if html_path:
        write_html(report, Path(html_path))


def build(prometheus: str, window: str, experiment: str | None = None,
          mde: float = DEFAULT_MDE, at: float | None = None, namespace: str = "") -> Report:
    if not WINDOW.match(window):
        raise ReportError(f"--window {window!r}: use a Prometheus duration such as 7d, "
                          "24h or 30m")
    try:
        name, variants = collect(Prometheus(prometheus), window, experiment, at, namespace)
    except PrometheusError as exc:
        raise ReportError(str(exc)) from exc
    return analyse(name, variants, window, mde)
