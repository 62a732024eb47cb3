"""Gemini prices, the one place the cost panels, rules and reports read them from.

USD per 1M tokens, paid tier, text input (Gemini API pricing page, Gemini 2.5 models,
prompts up to 200k tokens). Thinking tokens are billed at the output price. Cached input
(`usage_metadata.cached_content_token_count`: the part of the prompt that Gemini served
from its context cache, implicit or explicit) is billed at the context-caching price,
which is a tenth of the input price; the storage fee of an explicit cache (per token-hour)
is not a token price and is not counted here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelPrice:
    input_per_million_usd: float
    output_per_million_usd: float
    cached_input_per_million_usd: float

    @property
    def input_per_token_usd(self) -> float:
        return self.input_per_million_usd / 1_000_000

    @property
    def output_per_token_usd(self) -> float:
        return self.output_per_million_usd / 1_000_000

    @property
    def cached_input_per_token_usd(self) -> float:
        return self.cached_input_per_million_usd / 1_000_000

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


def cost_usd(model: str, input_tokens: int, output_tokens: int, thinking_tokens: int,
             cached_input_tokens: int = 0) -> float:
    """`input_tokens` are the prompt tokens not served from the cache."""
    price = PRICES[model]
    return (input_tokens * price.input_per_token_usd
            + cached_input_tokens * price.cached_input_per_token_usd
            + (output_tokens + thinking_tokens) * price.output_per_token_usd)
