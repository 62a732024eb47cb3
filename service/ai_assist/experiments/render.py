"""The A/B report as a terminal table, Markdown, HTML (markdown-it, as the cost report)
and its plots (matplotlib, PNG files beside the HTML). Everything is a function of the
report, so the same report gives the same bytes: the committed example is checked fresh.

Rates are shown as percentages and their differences in percentage points (pp); the
means' differences are shown as they are and relative to the control.
"""

from __future__ import annotations

import math
from pathlib import Path

from ai_assist.experiments.stats import (
    METRIC_LABELS,
    METRICS,
    POWER,
    SRM_ALPHA,
    Comparison,
    Report,
    points,
)
from ai_assist.pricing import usd_text
from ai_assist.report_files import html_page, pyplot, save_figure

# what the plots of a report written to DIR/NAME.html are called: DIR/NAME-<suffix>
PLOTS = {"variants": "variants.png", "differences": "differences.png"}
COLOURS = {"better": "#59a14f", "worse": "#e15759", "none": "#bab0ac"}
VARIANT_COLOURS = ("#4e79a7", "#f28e2b", "#76b7b2", "#edc948")


def _fmt(value, kind: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "share":
        return f"{value:.1%}"
    if kind == "rate":
        return f"{value:.2%}"
    if kind == "usd":
        return usd_text(value)
    if kind == "s":
        return f"{value:#.3g} s"
    if kind == "p":
        return f"{value:.3g}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _kind(metric: str) -> str:
    return "rate" if METRICS[metric][0] == "proportion" else ""


def difference(c: Comparison) -> str:
    """variant - control: in percentage points for a rate; for a mean, as it is and
    relative to the control."""
    if c.difference != c.difference:
        return "-"
    if _kind(c.metric) == "rate":
        return f"{c.difference * 100:+.2f} pp"
    relative = (f" ({c.difference / c.control_value:+.1%})"
                if c.control_value and math.isfinite(c.control_value) else "")
    return f"{c.difference:+.3g}{relative}"


VARIANT_COLUMNS = (("variant", "name", ""), ("share", "share", "share"),
                   ("requests", "requests", ""),
                   ("cache hits", "cache_hits", ""), ("forced (QA)", "forced", ""),
                   *((METRIC_LABELS[m], m, _kind(m)) for m in METRICS),
                   ("cost per request", "cost_per_request_usd", "usd"),
                   ("latency p50", "latency_p50_s", "s"), ("latency p95", "latency_p95_s", "s"))


def variant_table(report: Report) -> tuple[list[str], list[list[str]]]:
    header = [c[0] for c in VARIANT_COLUMNS]
    rows = [[_fmt(v[key], kind) for _, key, kind in VARIANT_COLUMNS] for v in report.variants]
    return header, rows


def comparison_table(report: Report) -> tuple[list[str], list[list[str]]]:
    control = report.control if report.control == "control" else f"{report.control} (control)"
    header = ["variant", "metric", control, "variant's value",
              "difference", "p", "p (Holm)", "significant"]
    rows = []
    for c in report.comparisons:
        kind = _kind(c.metric)
        sign = "" if not c.significant else (" (better)" if c.better else " (worse)")
        rows.append([c.variant, METRIC_LABELS[c.metric], _fmt(c.control_value, kind),
                     _fmt(c.variant_value, kind), difference(c),
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


def summary(report: Report) -> list[str]:
    srm = "-" if report.srm_p_value is None else f"{report.srm_p_value:.3g}"
    return [(f"Sample-ratio check: chi-square p = {srm} "
             f"({'MISMATCH' if report.srm else 'ok'}; flagged below {SRM_ALPHA:g})"),
            (f"Left out of the comparison: {report.forced} forced requests "
             f"(X-Experiment-Variant, QA credentials only; not in any figure) and "
             f"{report.cache_hits} cache hits (they repeat answers already counted, made "
             f"cheap and fast by the cache, not the variant; not in any figure or check)"),
            (f"Minimum sample size: {report.min_sample_size} answered requests per variant "
             f"(a match-rate change of {points(report.mde)}, alpha {report.alpha:g}, "
             f"power {POWER:g})"),
            f"Verdict: {report.verdict}"]


METHODS = ("Rates: two-proportion z-test, their differences in percentage points (pp); "
           "means: Welch's t-test from count, sum and sum of squares, their differences "
           "also relative to the control; p-values adjusted over every comparison with "
           "Holm's method.")


def to_text(report: Report) -> str:
    title = f"Experiment {report.experiment}" + (f", last {report.window}" if report.window
                                                  else "")
    return "\n\n".join([title, _text_table(*variant_table(report)),
                        _text_table(*comparison_table(report)), "\n".join(summary(report))])


def to_markdown(report: Report, plots: dict[str, str] | None = None) -> str:
    """The report; with `plots` (kind -> file name), their images in it too."""
    image = lambda kind, alt: [f"![{alt}]({plots[kind]})"] if plots else []
    title = f"# A/B report: {report.experiment}" + (
        f" (last {report.window})" if report.window else "")
    return "\n\n".join([
        title, "## Variants", _markdown_table(*variant_table(report)),
        *image("variants", "Rates, cost and latency by variant"),
        f"## Each variant against the control ({report.control})",
        _markdown_table(*comparison_table(report)), METHODS,
        *image("differences", "Differences from the control"),
        "## Checks and verdict", "\n".join(f"- {line}" for line in summary(report))]) + "\n"


def html(markdown: str, title: str) -> str:
    return html_page(markdown, title, width_em=68)


def plot_names(html_path: Path) -> dict[str, str]:
    return {kind: f"{html_path.stem}-{suffix}" for kind, suffix in PLOTS.items()}


def write_html(report: Report, path: Path, note: str = "") -> list[Path]:
    """The HTML report at `path` and its plots beside it; every path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = plot_names(path)
    path.write_text(html(note + to_markdown(report, names),
                         f"A/B report: {report.experiment}"), encoding="utf-8")
    plots(report, {kind: path.parent / name for kind, name in names.items()})
    return [path, *(path.parent / name for name in names.values())]


# --- plots ---------------------------------------------------------------------------
def plots(report: Report, paths: dict[str, Path]) -> None:
    with pyplot() as plt:
        _variants(report, paths["variants"], plt)
        _differences(report, paths["differences"], plt)


def _variants(report: Report, path: Path, plt) -> None:
    """The rates side by side per variant, and each variant's cost and latency."""
    rates = [m for m in METRICS if _kind(m) == "rate"]
    variants = report.variants
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(9, 3.1),
                                                 gridspec_kw={"width_ratios": [2, 1, 1]})
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        colour = VARIANT_COLOURS[i % len(VARIANT_COLOURS)]
        left.bar([n + i * width for n in range(len(rates))],
                 [_number(v[m]) * 100 for m in rates], width, color=colour, label=v["name"])
    left.set_xticks([n + width * (len(variants) - 1) / 2 for n in range(len(rates))],
                    [METRIC_LABELS[m] for m in rates])
    left.set_ylabel("% of answered requests")
    left.set_ylim(0, 100)
    left.set_title("Rates")
    names = [v["name"] for v in variants]
    colours = [VARIANT_COLOURS[i % len(VARIANT_COLOURS)] for i in range(len(variants))]
    middle.bar(names, [_number(v["cost_per_request_usd"]) * 1000 for v in variants],
               color=colours)
    middle.set_ylabel("USD per 1000 requests")
    middle.set_title("Gemini cost")
    for i, (q, hatch) in enumerate((("latency_p50_s", ""), ("latency_p95_s", "//"))):
        right.bar([n + i * 0.4 for n in range(len(variants))],
                  [_number(v[q]) for v in variants], 0.4, color=colours, hatch=hatch,
                  edgecolor="white")
    right.set_xticks([n + 0.2 for n in range(len(variants))], names)
    right.set_ylabel("seconds")
    right.set_title("Latency: p50, p95 (hatched)", fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours]
    figure.legend(handles, names, loc="lower center", ncols=len(names), fontsize=8,
                  frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    save_figure(figure, path, tight=False)


def _differences(report: Report, path: Path, plt) -> None:
    """Each comparison: rates in percentage points, means relative to the control;
    coloured by the Holm-adjusted verdict."""
    groups = {"rate": [], "mean": []}
    for c in report.comparisons:
        if c.difference != c.difference:
            continue
        verdict = "none" if not c.significant else ("better" if c.better else "worse")
        label = f"{c.variant}: {METRIC_LABELS[c.metric]}"
        if _kind(c.metric) == "rate":
            groups["rate"].append((label, c.difference * 100, verdict))
        elif c.control_value:
            groups["mean"].append((label, c.difference / c.control_value * 100, verdict))
    figure, axes = plt.subplots(1, 2, figsize=(9, 0.6 + 0.45 * max(
        2, max(len(g) for g in groups.values()))))
    for ax, (kind, bars), unit in zip(axes, groups.items(),
                                      ("percentage points (pp)", "% of the control's value")):
        ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1],
                color=[COLOURS[b[2]] for b in bars][::-1])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(unit)
        ax.set_title("Rates: difference" if kind == "rate" else "Means: relative difference")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    figure.legend(handles, ["better (significant)", "worse (significant)", "not significant"],
                  loc="lower center", ncols=3, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    save_figure(figure, path, tight=False)


def _number(value) -> float:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else 0.0
