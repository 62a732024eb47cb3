"""The service's price table (service/ai_assist/pricing.py) against Google's price page as
the tests write it down (tests/harness/prices.py, with the page and its date). The cost
truths use the page's figures, so a price edited in one table alone fails here; a price
Google changes is edited in both, after reading the page."""

from __future__ import annotations

import pytest

from ai_assist.pricing import PRICES, TokenUsage
from ai_assist.pricing import usd as service_usd
from ai_assist.telemetry.metrics import TOKEN_TYPES

from tests.harness.prices import PRICE_PAGE, PRICE_PAGE_DATE, USD_PER_MILLION, usd


def test_the_same_models_are_priced():
    assert set(PRICES) == set(USD_PER_MILLION), \
        f"pricing.py and the price page's table ({PRICE_PAGE}, {PRICE_PAGE_DATE}) price " \
        f"different models"


@pytest.mark.parametrize("model", sorted(USD_PER_MILLION))
@pytest.mark.parametrize("token_type", TOKEN_TYPES)
def test_every_token_type_costs_what_the_price_page_says(model, token_type):
    page = USD_PER_MILLION[model][token_type]
    assert PRICES[model].per_million_usd(token_type) == page, \
        f"{model} {token_type}: pricing.py says {PRICES[model].per_million_usd(token_type)} " \
        f"USD per 1M tokens, {PRICE_PAGE} ({PRICE_PAGE_DATE}) says {page}"


@pytest.mark.parametrize("model", sorted(USD_PER_MILLION))
def test_the_service_formula_costs_a_call_as_the_page_does(model):
    # token counts far apart, so a type priced at another type's price shows
    tokens = {"input": 1100, "cached_input": 400_000, "output": 30_000, "thinking": 7}
    assert service_usd(model, tokens) == pytest.approx(usd(model, tokens), rel=1e-12)
    assert TokenUsage.of(tokens).usd(model) == pytest.approx(usd(model, tokens), rel=1e-12)


def test_the_ledger_holds_every_token_type_and_splits_the_prompt_as_gemini_bills_it():
    assert set(TokenUsage().by_type()) == set(TOKEN_TYPES)
    # usage_metadata: prompt_token_count 1800 of which 1200 cached, 90 out, 210 thinking
    usage = TokenUsage.from_gemini(1800, 90, 210, cached=1200)
    assert usage.by_type() == {"input": 600, "cached_input": 1200, "output": 90,
                               "thinking": 210}
    assert (usage.prompt, usage.total) == (1800, 2100)
    # Gemini 2.5 Flash, by hand: 600 x 0.30 + 1200 x 0.03 + (90 + 210) x 2.50 per 1M
    assert usage.usd("gemini-2.5-flash") == pytest.approx(966e-6, rel=1e-12)
    assert usage + usage == TokenUsage(1200, 2400, 180, 420)
    # a cached count above the prompt (never seen, but not trusted) is capped at it
    assert TokenUsage.from_gemini(100, cached=150).by_type()["input"] == 0
    with pytest.raises(TypeError):
        TokenUsage.of({"audio": 5})
