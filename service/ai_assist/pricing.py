"""Gemini prices, the one place the cost panels, rules and reports read them from.

USD per 1M tokens, paid tier, text input (Gemini API pricing page, Gemini 2.5 models,
prompts up to 200k tokens). Thinking tokens are billed at the output price. Cached input
(`usage_metadata.cached_content_token_count`: the part of the prompt that Gemini served
from its context cache, implicit or explicit) is billed at the context-caching price,
which is a tenth of the input price; the storage fee of an explicit cache (per token-hour)
is not a token price and is not counted here.

The ledger: TokenUsage is the one value that holds tokens by how they are billed (the
LLM stage's accounting, the response cache's saved tokens, the reports, the capacity
model), and `usd()` the one place tokens become dollars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class ModelPrice:
    input_per_million_usd: float
    output_per_million_usd: float
    cached_input_per_million_usd: float

    def per_million_usd(self, token_type: str) -> float:
        """The price of one million tokens of a gemini_tokens_used_total `type`."""
        if token_type in OUTPUT_BILLED_TYPES:
            return self.output_per_million_usd
        if token_type in CACHED_INPUT_TYPES:
            return self.cached_input_per_million_usd
        return self.input_per_million_usd


PRICES: dict[str, ModelPrice] = {
    "gemini-2.5-flash": ModelPrice(input_per_million_usd=0.30, output_per_million_usd=2.50,
                                   cached_input_per_million_usd=0.03),
    "gemini-2.5-flash-lite": ModelPrice(input_per_million_usd=0.10, output_per_million_usd=0.40,
                                        cached_input_per_million_usd=0.01),
    "gemini-2.5-pro": ModelPrice(input_per_million_usd=1.25, output_per_million_usd=10.00,
                                 cached_input_per_million_usd=0.125),
}

# Token types billed at the output price.
OUTPUT_BILLED_TYPES = ("output", "thinking")
# Token types billed at the cached-input price (prompt tokens Gemini served from its
# context cache; the `input` type holds the rest of the prompt).
CACHED_INPUT_TYPES = ("cached_input",)


@dataclass(frozen=True)
class TokenUsage:
    """Tokens by how Gemini bills them: the field names are gemini_tokens_used_total's
    `type` values. Counts may be floats (Prometheus's increase(), averages)."""
    input: float = 0  # prompt tokens not served from the context cache
    cached_input: float = 0  # prompt tokens served from it (cached_content_token_count)
    output: float = 0
    thinking: float = 0  # billed at the output price

    @classmethod
    def from_gemini(cls, prompt: float, output: float = 0, thinking: float = 0,
                    cached: float = 0) -> TokenUsage:
        """From usage_metadata's counts: the prompt count includes its cached part."""
        cached = min(cached, prompt)
        return cls(input=prompt - cached, cached_input=cached, output=output,
                   thinking=thinking)

    @classmethod
    def of(cls, by_type: Mapping[str, float]) -> TokenUsage:
        """From type -> count; a type that is not billed here fails (TypeError)."""
        return cls(**by_type)

    def by_type(self) -> dict[str, float]:
        return asdict(self)

    @property
    def prompt(self) -> float:
        return self.input + self.cached_input

    @property
    def total(self) -> float:
        """Every billed token."""
        return sum(self.by_type().values())

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(*(getattr(self, f.name) + getattr(other, f.name)
                            for f in fields(self)))

    def usd(self, model: str) -> float:
        return usd(model, self)


def usd(model: str, tokens: TokenUsage | Mapping[str, float]) -> float:
    """What `tokens` (a TokenUsage, or type -> count) cost on `model`, in USD."""
    price = PRICES[model]
    usage = tokens if isinstance(tokens, TokenUsage) else TokenUsage.of(tokens)
    return sum(count * price.per_million_usd(kind)
               for kind, count in usage.by_type().items()) / 1_000_000


def usd_text(value: float) -> str:
    """Dollars as the reports write them: with cents from a dollar up, with three
    significant figures below (a request costs a fraction of a cent)."""
    if value == 0 or not math.isfinite(value):
        return "$0.00"
    if abs(value) >= 0.995:
        return f"${value:,.2f}"
    return f"${value:,.{2 - math.floor(math.log10(abs(value)))}f}"
