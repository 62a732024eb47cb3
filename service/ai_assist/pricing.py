"""Gemini prices, the one place the cost panels, rules and reports read them from.

USD per 1M tokens, paid tier, text input (Gemini API pricing page, Gemini 2.5 Flash).
Thinking tokens are billed at the output price.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelPrice:
    input_per_million_usd: float
    output_per_million_usd: float

    @property
    def input_per_token_usd(self) -> float:
        return self.input_per_million_usd / 1_000_000

    @property
    def output_per_token_usd(self) -> float:
        return self.output_per_million_usd / 1_000_000


PRICES: dict[str, ModelPrice] = {
    "gemini-2.5-flash": ModelPrice(input_per_million_usd=0.30, output_per_million_usd=2.50),
    "gemini-2.5-flash-lite": ModelPrice(input_per_million_usd=0.10, output_per_million_usd=0.40),
    "gemini-2.5-pro": ModelPrice(input_per_million_usd=1.25, output_per_million_usd=10.00),
}

# Token types billed at the output price.
OUTPUT_BILLED_TYPES = ("output", "thinking")


def cost_usd(model: str, input_tokens: int, output_tokens: int, thinking_tokens: int) -> float:
    price = PRICES[model]
    return (input_tokens * price.input_per_token_usd
            + (output_tokens + thinking_tokens) * price.output_per_token_usd)
