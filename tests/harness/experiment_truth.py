"""Truth of the Quality dashboard's "Experiments (A/B)" row, per variant, from the
client's records (each answer names its variant: X-Experiment-Variant) and, for tokens,
from the emulator's own count of the tokens it billed by candidates in the prompt."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from tests.harness import prices
from tests.harness.truth import Expected, Truth

PER_CALL_TYPES = ("input", "cached_input", "output", "thinking")


def variant_of(record) -> str:
    return record.variant or "none"


def variants(t: Truth) -> tuple[str, ...]:
    """The panels show the experiment's variants, not "none"."""
    from tests.conftest import STACK_EXPERIMENT

    return tuple(v["name"] for v in STACK_EXPERIMENT["variants"])


def answered(t: Truth) -> Counter:
    return Counter(variant_of(r) for r in t.records if r.reached_pipeline)


def tokens_by_type(t: Truth) -> dict[str, dict[str, float]]:
    """Only "six" hands Gemini 6 candidates (control gets 12, or 11 when only TCFD is
    asked for), and both replicas run the experiment, so every other billed token is
    control's."""
    billed = t.emulator_stats["tokens_by_candidates"].get("6", {})
    cached = billed.get("cached", 0)
    six = {"input": billed.get("prompt", 0) - cached, "cached_input": cached,
           "output": billed.get("output", 0), "thinking": billed.get("thinking", 0)}
    total = t.tokens()
    return {"six": six, "control": {k: total.get(k, 0) - six[k] for k in PER_CALL_TYPES}}


def _by_variant(t: Truth, values: dict[str, float], kind: str) -> Expected:
    return Expected({(v,): values.get(v, 0.0) for v in variants(t)}, kind, ("variant",))


def _ratio(num: dict[str, float], den: Counter, t: Truth) -> Expected:
    return _by_variant(t, {v: num.get(v, 0) / den[v] if den[v] else 0.0
                           for v in variants(t)}, "ratio")


def requests_per_minute(t: Truth) -> Expected:
    return _by_variant(t, {v: t.per_minute(n) for v, n in answered(t).items()}, "rate")


def success_rate(t: Truth) -> Expected:
    success = Counter(variant_of(r) for r in t.records if r.status == "success")
    return _ratio(success, answered(t), t)


def confidence(t: Truth) -> Expected:
    sums, counts = Counter(), Counter()
    for r in t.answers():
        if r.matches:
            sums[variant_of(r)] += r.body["average_confidence"]
            counts[variant_of(r)] += 1
    return _ratio(sums, counts, t)


def tokens_per_request(t: Truth) -> Expected:
    tokens = {v: sum(types.values()) for v, types in tokens_by_type(t).items()}
    return _ratio(tokens, answered(t), t)


def cost_per_request(t: Truth) -> Expected:
    cost = {v: prices.usd(t.model, types) for v, types in tokens_by_type(t).items()}
    return _ratio(cost, answered(t), t)


def running_experiment(t: Truth) -> Expected:
    from tests.conftest import STACK_EXPERIMENT

    total = sum(v["weight"] for v in STACK_EXPERIMENT["variants"])
    return Expected({(STACK_EXPERIMENT["name"], v["name"]): v["weight"] / total
                     for v in STACK_EXPERIMENT["variants"]}, "exact",
                    ("experiment", "variant"))


def latency_p95(t: Truth) -> Expected:
    every = t.quantile(0.95, "esg_mapping_request_duration_seconds", by=("variant",))
    return replace(every, values={k: v for k, v in every.values.items()
                                  if k[0] in variants(t)})


def excluded(t: Truth) -> Expected:
    """The stack's traffic reaches "six" by company_id, never by forcing, and its replicas
    run no response cache: nothing is left out (tests/stack/test_experiments_adversarial.py
    drives both reasons against a real service)."""
    from ai_assist.telemetry.metrics import EXCLUDED_REASONS

    return Expected({(reason, variant): 0.0 for reason in EXCLUDED_REASONS
                     for variant in variants(t)}, "rate", ("reason", "variant"))


EXPERIMENT_TRUTH = {
    ("quality", "Left out of the comparison", "{{reason}} {{variant}}"): excluded,
    ("quality", "Running experiment", "{{experiment}} {{variant}}"): running_experiment,
    ("quality", "Requests per minute by variant", "{{variant}}"): requests_per_minute,
    ("quality", "Success rate by variant", "{{variant}}"): success_rate,
    ("quality", "Average confidence by variant", "{{variant}}"): confidence,
    ("quality", "Response time p95 by variant", "{{variant}}"): latency_p95,
    ("quality", "Tokens per request by variant", "{{variant}}"): tokens_per_request,
    ("quality", "Cost per request by variant", "{{variant}}"): cost_per_request,
}
