"""The figures of the cost report and the suggestions they back, from the aggregates
alone (no Prometheus here), priced with ai_assist/pricing.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ai_assist.costreport.aggregates import Aggregates
from ai_assist.pricing import PRICES, TokenUsage, usd, usd_text
from observability.cost import SECONDS_PER_MONTH
from observability.thresholds import BY_KEY

PROMPT_TYPES = ("input", "cached_input")
OUTPUT_TYPES = ("output", "thinking")
# Suggestions worth making: below these the saving is noise.
MIN_DUPLICATE_SHARE = 0.05
MIN_WASTED_SHARE = 0.01
MIN_THINKING_SHARE = 0.25


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _priced(tokens: dict[str, dict[str, float]]) -> float:
    """USD of model -> type -> tokens; models without a price left out."""
    return sum(usd(model, by_type) for model, by_type in tokens.items() if model in PRICES)


def candidate_share(candidates: int) -> float:
    """The share of a prompt's characters that `candidates` candidate lines take, from
    the real prompt builder, the real catalogue and the sample passages: what shrinks
    when fewer candidates are handed to Gemini. Tokens follow characters closely within
    one language, so the share of characters stands for the share of tokens."""
    from ai_assist.frameworks import FRAMEWORKS
    from ai_assist.mapping.catalogue import load_catalogue
    from ai_assist.mapping.prompt import build_prompt
    from ai_assist.mapping.types import Candidate
    from ai_assist.samples import SAMPLES

    catalogue = load_catalogue()
    pool = [Candidate(d.framework, d.id, d.title, d.description, 0.5) for d in catalogue]
    shares = []
    for index, (_, text) in enumerate(SAMPLES):
        chosen = [pool[(index * 37 + 11 * n) % len(pool)] for n in range(candidates)]
        full = len(build_prompt(text, chosen, FRAMEWORKS, 5))
        bare = len(build_prompt(text, [], FRAMEWORKS, 5))
        shares.append((full - bare) / full)
    return round(float(np.mean(shares)), 4)


@dataclass
class Saving:
    what: str
    usd_per_month: float
    detail: str
    # a cut of today's spend; False: what something already in place saves (the cache's
    # hits were never billed, so they are not part of the spend)
    cuts_spend: bool = True


@dataclass
class Figures:
    a: Aggregates
    spend: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> type -> USD
    unpriced_models: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for model, by_type in sorted(self.a.tokens.items()):
            if model not in PRICES:
                if sum(by_type.values()):
                    self.unpriced_models.append(model)
                continue
            self.spend[model] = {t: usd(model, {t: n}) for t, n in sorted(by_type.items())}

    # --- spend ------------------------------------------------------------------
    @property
    def total_usd(self) -> float:
        return sum(sum(by_type.values()) for by_type in self.spend.values())

    def spend_by_type(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for by_type in self.spend.values():
            for t, spent in by_type.items():
                out[t] = out.get(t, 0.0) + spent
        return out

    @property
    def per_month(self) -> float:
        """How many windows make a 30-day month."""
        return SECONDS_PER_MONTH / self.a.window_s

    @property
    def projected_month_usd(self) -> float:
        return self.total_usd * self.per_month

    @property
    def recorded_month_usd(self) -> float | None:
        rate = self.a.recorded_cost_usd_per_s
        return None if rate is None else rate * SECONDS_PER_MONTH

    @property
    def main_model(self) -> str | None:
        return max(self.spend, key=lambda m: sum(self.spend[m].values()), default=None)

    # --- tokens -----------------------------------------------------------------
    def tokens_of(self, types) -> float:
        return sum(by_type.get(t, 0.0) for by_type in self.a.tokens.values() for t in types)

    @property
    def tokens_total(self) -> float:
        return sum(sum(by_type.values()) for by_type in self.a.tokens.values())

    @property
    def ok_calls(self) -> float:
        return self.a.gemini_calls.get("ok", 0.0)

    @property
    def canary_usd(self) -> float:
        return _priced(self.a.canary_tokens)

    @property
    def user_tokens(self) -> float:
        canary = sum(sum(by_type.values()) for by_type in self.a.canary_tokens.values())
        return self.tokens_total - canary

    @property
    def tokens_per_request(self) -> float:
        """Users' tokens per answered request (the canary's requests are not counted as
        requests, so its tokens are left out here)."""
        return _div(self.user_tokens, self.a.answered)

    @property
    def usd_per_request(self) -> float:
        return _div(self.total_usd - self.canary_usd, self.a.answered)

    @property
    def prompt_tokens_per_call(self) -> float:
        return _div(self.tokens_of(PROMPT_TYPES), self.ok_calls)

    @property
    def output_tokens_per_call(self) -> float:
        return _div(self.tokens_of(OUTPUT_TYPES), self.ok_calls)

    def trend(self) -> list[tuple[float, float]]:
        """(time, tokens per answered request) of each trend point with requests."""
        return [(t, tokens / requests) for t, tokens, requests in self.a.trend if requests]

    def trend_change(self) -> float | None:
        """Tokens per request, second half of the window against the first (a ratio - 1);
        None with fewer than 4 points."""
        points = self.trend()
        if len(points) < 4:
            return None
        half = len(points) // 2
        first = np.mean([v for _, v in points[:half]])
        second = np.mean([v for _, v in points[half:]])
        return float(second / first - 1) if first else None

    # --- waste ------------------------------------------------------------------
    @property
    def wasted_tokens(self) -> float:
        return sum(self.a.wasted.values())

    @property
    def wasted_share(self) -> float:
        return _div(self.wasted_tokens, self.tokens_total)

    @property
    def wasted_usd(self) -> float:
        """Wasted tokens at the window's average price per token (the wasted-token counter
        has no type)."""
        return self.wasted_tokens * _div(self.total_usd, self.tokens_total)

    @property
    def retries(self) -> float:
        return sum(self.a.retries.values())

    # --- repeats and the cache --------------------------------------------------
    @property
    def duplicate_share(self) -> float:
        return _div(self.a.duplicates, self.a.answered)

    @property
    def cache_hits(self) -> float:
        return self.a.cache_lookups.get("hit", 0.0)

    @property
    def cache_hit_ratio(self) -> float:
        return _div(self.cache_hits, sum(self.a.cache_lookups.values()))

    @property
    def cache_saved_usd(self) -> float:
        return _priced(self.a.cache_tokens_saved)

    @property
    def cache_projected_month_usd(self) -> float:
        """With the cache off: what serving the repeated texts from a cache would have
        saved (repeats x the average Gemini spend per answered request), per month. The
        canary's spend is left out: its checks skip the cache."""
        return self.a.duplicates * self.usd_per_request * self.per_month

    # --- candidates -------------------------------------------------------------
    def tokens_per_candidate(self) -> tuple[float, str] | None:
        """Prompt tokens one candidate adds, and how it was found."""
        points = [(v["candidates"], v["prompt_tokens"] / v["answers"])
                  for v in self.a.experiment.values() if v["answers"]]
        if len({c for c, _ in points}) >= 2:
            slope, _ = np.polyfit([c for c, _ in points], [t for _, t in points], 1)
            return float(slope), ("measured from the experiment's variants: prompt tokens "
                                  "per answered request against candidates, least squares")
        if self.a.candidate_share and self.a.candidates and self.ok_calls:
            return (self.prompt_tokens_per_call * self.a.candidate_share / self.a.candidates,
                    f"estimated: the candidates take {self.a.candidate_share:.0%} of a "
                    f"prompt (the prompt builder over the catalogue), "
                    f"{self.a.candidates} candidates per call")
        return None

    def fewer_candidates(self) -> list[tuple[int, float, float]]:
        """(candidates, prompt tokens saved per call, USD saved per month) for a few
        smaller candidate counts."""
        found = self.tokens_per_candidate()
        model = self.main_model
        if found is None or model is None:
            return []
        per_candidate, _ = found
        calls_per_month = self.ok_calls * self.per_month
        counts = sorted({max(1, self.a.candidates - 2), max(1, self.a.candidates - 4),
                         max(1, self.a.candidates // 2)} - {self.a.candidates}, reverse=True)
        return [(c, (self.a.candidates - c) * per_candidate,
                 usd(model, TokenUsage(input=(self.a.candidates - c) * per_candidate
                                       * calls_per_month)))
                for c in counts]

    # --- models -----------------------------------------------------------------
    def month_at(self, other: str) -> float:
        """The window's tokens at another model's prices, per month."""
        return sum(usd(other, by_type) for model, by_type in self.a.tokens.items()
                   if model in PRICES) * self.per_month

    # --- suggestions ------------------------------------------------------------
    def savings(self) -> list[Saving]:
        out: list[Saving] = []
        if self.cache_hits:
            out.append(Saving(
                "Keep the response cache on", self.cache_saved_usd * self.per_month,
                f"it answered {self.cache_hits:,.0f} requests ({self.cache_hit_ratio:.1%} "
                f"of lookups) and saved {usd_text(self.cache_saved_usd)} in this window; "
                f"already outside the spend", cuts_spend=False))
        elif self.duplicate_share >= MIN_DUPLICATE_SHARE:
            out.append(Saving(
                "Turn on the response cache (AI_ASSIST_CACHE_ENABLED=true)",
                self.cache_projected_month_usd,
                f"{self.duplicate_share:.1%} of answered requests repeated a text their "
                f"replica had just mapped ({self.a.duplicates:,.0f} of "
                f"{self.a.answered:,.0f})"))
        if self.wasted_share >= MIN_WASTED_SHARE:
            out.append(Saving(
                "Cut the answers thrown away (failed parses, empty or truncated answers)",
                self.wasted_usd * self.per_month,
                f"{self.wasted_tokens:,.0f} tokens ({self.wasted_share:.1%} of all) were "
                f"billed for answers that were discarded and asked again"))
        fewer = self.fewer_candidates()
        if fewer:
            c, tokens, saved_usd = fewer[0]
            out.append(Saving(
                f"Hand Gemini {c} candidates instead of {self.a.candidates} "
                f"(AI_ASSIST_CANDIDATES; check the match rate with an A/B experiment)",
                saved_usd, f"{tokens:,.0f} prompt tokens less per call"))
        spend = self.spend_by_type()
        thinking_share = _div(spend.get("thinking", 0.0), self.total_usd)
        if thinking_share >= MIN_THINKING_SHARE:
            out.append(Saving(
                "Lower the thinking budget (an experiment variant with thinking_budget)",
                spend.get("thinking", 0.0) / 2 * self.per_month,
                f"thinking tokens are {thinking_share:.0%} of the spend; the figure is "
                f"for halving them"))
        model = self.main_model
        if model is not None:
            cheaper = [(self.month_at(m), m) for m in PRICES
                       if m != model and self.month_at(m) < self.projected_month_usd]
            if cheaper:
                there, other = min(cheaper)
                out.append(Saving(
                    f"Try {other} in an A/B experiment (gemini_model)",
                    self.projected_month_usd - there,
                    f"the same tokens cost {usd_text(there)} a month there instead of "
                    f"{usd_text(self.projected_month_usd)}; quality must be measured first"))
        goal = BY_KEY["avg_input_tokens"].goal
        if self.prompt_tokens_per_call > goal:
            cut = 1 - goal / self.prompt_tokens_per_call
            saved = TokenUsage(input=(self.prompt_tokens_per_call - goal) * self.ok_calls
                               * self.per_month)
            out.append(Saving(
                f"Shorten prompts by {cut:.0%} to meet the {goal:g}-token goal",
                usd(model, saved) if model else 0.0,
                f"{self.prompt_tokens_per_call:,.0f} prompt tokens per call now"))
        return sorted(out, key=lambda s: -s.usd_per_month)

    def combined_saving(self) -> float:
        """What the suggestions that cut the spend save taken together, per month,
        without counting an overlap twice: each is figured alone as a share of the
        projected month, and each is applied to what the others leave, 1 - prod(1 -
        share). Never more than the projected month (their sum can be)."""
        spend = self.projected_month_usd
        left = 1.0
        for saving in self.savings():
            if saving.cuts_spend and spend > 0:
                left *= 1 - min(1.0, max(0.0, saving.usd_per_month / spend))
        return spend * (1 - left)

    def savings_sum(self) -> float:
        """The plain sum of the suggestions that cut the spend: overlaps counted twice."""
        return sum(s.usd_per_month for s in self.savings() if s.cuts_spend)
