"""The report as Markdown, the same as HTML (markdown-it), and its plots (matplotlib,
PNG files beside them). Everything is a function of the aggregates, so the same file
gives the same bytes: the committed example is checked fresh that way."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ai_assist.costreport.analysis import Figures
from ai_assist.pricing import PRICES, usd_text
from ai_assist.report_files import html_page, pyplot, save_figure
from observability.cost import COST_RATE_RECORD

MARKDOWN = "costreport.md"
HTML = "costreport.html"
AGGREGATES = "aggregates.json"
PLOTS = {"spend": "spend-by-type.png", "trend": "tokens-per-request.png",
         "savings": "savings.png"}
TYPE_ORDER = ("input", "cached_input", "output", "thinking")
COLOURS = {"input": "#4e79a7", "cached_input": "#a0cbe8", "output": "#f28e2b",
           "thinking": "#ffbe7d"}


_usd = usd_text


def _pct(value: float) -> str:
    """A share with two significant figures at least."""
    return f"{value:.2%}" if abs(value) < 0.1 else f"{value:.1%}"


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def markdown(f: Figures) -> str:
    a = f.a
    read = f"namespace `{a.namespace}`, every replica" if a.namespace else "every replica"
    lines = [f"# Gemini cost report: the {a.window} to {_when(a.end)}", "",
             f"Made by `python -m ai_assist.costreport` from Prometheus ({read}); "
             "prices from `ai_assist/pricing.py` (USD per 1M tokens).", ""]
    for section in (_summary, _suggestions, _spend, _tokens, _waste, _cache, _candidates):
        lines += section(f)
    return "\n".join(lines)


def _summary(f: Figures) -> list[str]:
    a = f.a
    lines = ["## Summary", "", "| Figure | Value |", "|---|---|",
              f"| Spend in the window | {_usd(f.total_usd)} (the golden-set canary: "
              f"{_usd(f.canary_usd)}) |",
              f"| Projected month (this window's rate x 30 days) | "
              f"{_usd(f.projected_month_usd)} |"]
    if f.recorded_month_usd is not None:
        lines.append(f"| Projected month (last 24 h, `{COST_RATE_RECORD}`, as on the cost "
                     f"dashboard) | {_usd(f.recorded_month_usd)} |")
    change = f.trend_change()
    lines += [f"| Requests answered | {a.answered:,.0f} |",
              f"| Gemini calls (successful / all) | {f.ok_calls:,.0f} / "
              f"{sum(a.gemini_calls.values()):,.0f} |",
              f"| Tokens per answered request | {f.tokens_per_request:,.1f} |",
              f"| Spend per answered request | {_usd(f.usd_per_request)} |",
              f"| Prompt / output tokens per successful call | "
              f"{f.prompt_tokens_per_call:,.1f} / {f.output_tokens_per_call:,.1f} |",
              "| Tokens per request, 2nd half of the window vs 1st | "
              + ("n/a (too few points)" if change is None else f"{change:+.2%}") + " |",
              f"| Tokens wasted on discarded answers | {f.wasted_tokens:,.0f} "
              f"({_pct(f.wasted_share)}, about {_usd(f.wasted_usd)}) |",
              f"| Repeated texts (duplicate share) | {_pct(f.duplicate_share)} |", ""]
    if f.unpriced_models:
        lines += [f"Tokens of models without a price were left out: "
                  f"{', '.join(f.unpriced_models)}.", ""]
    return lines


def _suggestions(f: Figures) -> list[str]:
    lines = ["## Suggestions", ""]
    savings = f.savings()
    if not savings:
        lines += ["Nothing to suggest: no figure passes the thresholds of "
                  "`ai_assist/costreport/analysis.py`.", ""]
    else:
        lines += ["| Suggestion | Saves per month | Because |", "|---|---|---|"]
        lines += [f"| {s.what} | {_usd(s.usd_per_month)} | {s.detail} |" for s in savings]
        lines += ["", *_overlap(f), f"![Savings per month]({PLOTS['savings']})", ""]
    return lines


def _spend(f: Figures) -> list[str]:
    lines = ["## Spend by model and token type", "",
             "| Model | Token type | Tokens | Price per 1M | Spend |", "|---|---|---|---|---|"]
    for model, by_type in sorted(f.spend.items()):
        for t in TYPE_ORDER:
            if t in by_type:
                lines.append(f"| {model} | {t} | {f.a.tokens[model][t]:,.0f} | "
                             f"{_usd(PRICES[model].per_million_usd(t))} | "
                             f"{_usd(by_type[t])} |")
    lines += ["", "`cached_input`: prompt tokens Gemini served from its context cache "
              "(`usage_metadata.cached_content_token_count`), billed at the cached price; "
              "`thinking` is billed at the output price.", "",
              f"![Spend by token type]({PLOTS['spend']})", ""]
    return lines


def _tokens(f: Figures) -> list[str]:
    return ["## Tokens per request", "",
            f"{f.tokens_per_request:,.1f} tokens per answered request over the window "
            "(fallbacks and errors included: they cost the calls that failed).", "",
            f"![Tokens per request]({PLOTS['trend']})", ""]


def _waste(f: Figures) -> list[str]:
    a = f.a
    lines = ["## Waste: retries and failed parses", "",
             "| Reason | Tokens billed for discarded answers |", "|---|---|"]
    lines += [f"| {r} | {n:,.0f} |" for r, n in sorted(a.wasted.items()) if n] or \
        ["| (none) | 0 |"]
    lines += ["", "| Retry reason | Gemini calls repeated |", "|---|---|"]
    lines += [f"| {r} | {n:,.0f} |" for r, n in sorted(a.retries.items()) if n] or \
        ["| (none) | 0 |"]
    lines += ["", "Retries after 429, 5xx or timeouts bill no tokens; retries after an "
              "unusable answer bill the whole discarded answer.", ""]
    return lines


def _cache(f: Figures) -> list[str]:
    lines = ["## Repeated requests and the response cache", ""]
    if f.cache_hits:
        lines += [f"The cache answered {f.cache_hits:,.0f} requests ({_pct(f.cache_hit_ratio)} "
                  f"of lookups) and saved {_usd(f.cache_saved_usd)} in the window "
                  f"({_usd(f.cache_saved_usd * f.per_month)} a month at this rate); "
                  f"{f.a.cache_evictions:,.0f} entries were evicted for room.", ""]
    else:
        lines += [f"The cache is off or never hit. {_pct(f.duplicate_share)} of answered "
                  f"requests repeated a recently mapped text "
                  f"(`esg_mapping_duplicate_requests_total`, per replica): a cache would "
                  f"have saved about {_usd(f.cache_projected_month_usd)} a month (users' "
                  f"requests at their average spend; the canary's checks skip the cache).",
                  ""]
    return lines


def _candidates(f: Figures) -> list[str]:
    lines = ["## Candidates handed to Gemini", ""]
    found = f.tokens_per_candidate()
    if found is None:
        lines += ["No estimate: no successful Gemini call in the window.", ""]
    else:
        per_candidate, how = found
        lines += [f"One candidate adds {per_candidate:,.1f} prompt tokens ({how}).", "",
                  "| Candidates | Prompt tokens saved per call | Saves per month |",
                  "|---|---|---|"]
        lines += [f"| {c} (now {f.a.candidates}) | {tokens:,.0f} | {_usd(usd)} |"
                  for c, tokens, usd in f.fewer_candidates()]
        lines += ["", "Fewer candidates can also lower the match rate: run them as an A/B "
                  "experiment (`python -m ai_assist.experiments report`) before changing "
                  "AI_ASSIST_CANDIDATES.", ""]
    return lines


def _overlap(f: Figures) -> list[str]:
    """What the suggestions save together: they overlap, so not their sum."""
    cutting = [s for s in f.savings() if s.cuts_spend]
    if len(cutting) < 2:
        return []
    total, spend = f.savings_sum(), f.projected_month_usd
    beyond = (f" (more than the projected month, {_usd(spend)}, itself)" if total > spend
              else "")
    return [f"The suggestions overlap: each is figured alone against today's spend (a "
            f"cheaper model also makes the thinking tokens and the repeats cheaper; the "
            f"cache removes calls whose prompts fewer candidates would shorten), so their "
            f"sum, {_usd(total)}{beyond}, counts the overlaps more than once. Taken "
            f"together they would save about **{_usd(f.combined_saving())} a month** of "
            f"the projected {_usd(spend)} (each applied to what the others leave: "
            f"1 - the product of (1 - its share of the spend)).", ""]


def html(md: str, title: str) -> str:
    return html_page(md, title, width_em=60)


def plots(f: Figures, out: Path) -> None:
    with pyplot() as plt:
        _plots(f, out, plt)


def _plots(f: Figures, out: Path, plt) -> None:
    figure, axes = plt.subplots(figsize=(7, 2.6))
    models = sorted(f.spend) or ["(no spend)"]
    left = [0.0] * len(models)
    for t in TYPE_ORDER:
        values = [f.spend.get(m, {}).get(t, 0.0) for m in models]
        axes.barh(models, values, left=left, color=COLOURS[t], label=t)
        left = [a + b for a, b in zip(left, values)]
    axes.set_xlabel(f"USD over the {f.a.window}")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=4, fontsize=8,
                frameon=False)
    axes.set_title("Spend by model and token type")
    save_figure(figure, out / PLOTS["spend"])

    figure, axes = plt.subplots(figsize=(7, 2.6))
    points = f.trend()
    if points:
        start = f.a.end - f.a.window_s
        hours = [(t - start) / 3600 for t, _ in points]
        axes.plot(hours, [v for _, v in points], marker="o", markersize=3, color="#4e79a7")
        axes.set_ylim(bottom=0)
    axes.set_xlabel(f"hours into the {f.a.window}")
    axes.set_ylabel("tokens / request")
    axes.set_title("Tokens per answered request")
    save_figure(figure, out / PLOTS["trend"])

    savings = f.savings()
    bars = [(s.what.split(" (")[0], s.usd_per_month, "#59a14f") for s in savings]
    if sum(s.cuts_spend for s in savings) > 1:
        bars.append(("All together (overlaps counted once)", f.combined_saving(), "#2f6b2a"))
    figure, axes = plt.subplots(figsize=(7, 2.6 + 0.25 * max(0, len(bars) - 4)))
    axes.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1],
              color=[b[2] for b in bars][::-1])
    label = "USD saved per month (each alone; they overlap)"
    if savings:
        axes.axvline(f.projected_month_usd, color="#e15759", linestyle="--", linewidth=1)
        label += f"\ndashed: the projected month's spend, {_usd(f.projected_month_usd)}"
    axes.set_xlabel(label)
    axes.set_title("What each suggestion saves")
    save_figure(figure, out / PLOTS["savings"])


def write(f: Figures, out: Path) -> dict[str, Path]:
    """Every file of the report into `out`; their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(f)
    files = {"markdown": out / MARKDOWN, "html": out / HTML, "aggregates": out / AGGREGATES}
    files["markdown"].write_text(md)
    files["html"].write_text(html(md, f"Gemini cost report ({f.a.window})"))
    files["aggregates"].write_text(f.a.to_json())
    plots(f, out)
    return {**files, **{k: out / v for k, v in PLOTS.items()}}
