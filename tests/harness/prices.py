"""Gemini prices as Google publishes them, written here by hand for the truths: the cost
truths must not read service/ai_assist/pricing.py (the code under test), or a wrong
price there would be a wrong price in the truth too. tests/unit/test_prices.py compares the
two tables, so an edit of either one alone fails.

Source: Google's "Gemini Developer API pricing" page,
https://ai.google.dev/gemini-api/docs/pricing, paid tier, Standard, text input, prompts
up to 200k tokens, as the page stood in March 2026 (read through copies of the page:
this machine cannot reach ai.google.dev; recheck it by hand when it changes).

- "Output price (including thinking tokens)": thinking tokens cost the output price.
- "Context caching price": the cached part of a prompt (usage_metadata's
  cached_content_token_count), a tenth of the input price; the cache's storage fee per
  token-hour is not a token price.
"""

from __future__ import annotations

PRICE_PAGE = "https://ai.google.dev/gemini-api/docs/pricing"
PRICE_PAGE_DATE = "2026-03"

# USD per 1 million tokens, by gemini_tokens_used_total `type`.
USD_PER_MILLION: dict[str, dict[str, float]] = {
    "gemini-2.5-flash": {"input": 0.30, "cached_input": 0.03, "output": 2.50,
                         "thinking": 2.50},
    "gemini-2.5-flash-lite": {"input": 0.10, "cached_input": 0.01, "output": 0.40,
                              "thinking": 0.40},
    "gemini-2.5-pro": {"input": 1.25, "cached_input": 0.125, "output": 10.00,
                       "thinking": 10.00},
}


def usd(model: str, tokens: dict[str, float]) -> float:
    """What `tokens` (type -> count) cost on `model`; a type without a price fails."""
    prices = USD_PER_MILLION[model]
    return sum(count * prices[kind] for kind, count in tokens.items()) / 1e6
