"""A/B experiments: the definition's validation, sticky assignment and its split, and the
statistics (SRM, A/A false positives, A/B power) on synthetic aggregates drawn from a
seeded generator, each checked against what was planted."""

from __future__ import annotations

import gc
import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from ai_assist import composition
from ai_assist.config import Settings, SettingsError
from ai_assist.experiments import (
    MAX_VARIANTS,
    ExperimentError,
    ForcingForbidden,
    UnknownVariant,
    assign,
    choose,
    load_experiment,
    parse_experiment,
)
from ai_assist.experiments.stats import ALPHA, VariantData, analyse, min_sample_size

TWO = {"name": "fewer-candidates",
       "variants": [{"name": "control", "weight": 50},
                    {"name": "six", "weight": 50, "candidates": 6}]}


def experiment(**changes):
    return parse_experiment({**TWO, **changes})


# --- the definition ------------------------------------------------------------------
@pytest.mark.parametrize("data, message", [
    ({**TWO, "colour": "red"}, "unknown keys colour"),
    ({**TWO, "name": "Bad Name"}, "name must match"),
    ({**TWO, "variants": [{"name": "control", "weight": 1}]}, "2 to 4 variants"),
    ({**TWO, "variants": [{"name": f"v{i}", "weight": 1} for i in range(MAX_VARIANTS + 1)]},
     "2 to 4 variants (got 5)"),
    ({**TWO, "variants": [{"name": "a", "weight": 0}, {"name": "b", "weight": 1}]},
     "variant 'a': weight must be a number > 0"),
    ({**TWO, "variants": [{"name": "a", "weight": -2}, {"name": "b", "weight": "x"}]},
     "variant 'b': weight must be a number > 0"),
    ({**TWO, "variants": [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}]},
     "a repeated"),
    ({**TWO, "variants": [{"name": "none", "weight": 1}, {"name": "b", "weight": 1}]},
     "not be 'none'"),
    ({**TWO, "variants": [{"name": "a", "weight": 1},
                          {"name": "b", "weight": 1, "gemini_model": "gemini-9-ultra"}]},
     "variant 'b': gemini_model must be one of gemini-2.5-flash"),
    ({**TWO, "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1,
                                                       "candidates": 0}]},
     "candidates must be an integer from 1 to 50"),
    ({**TWO, "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1,
                                                       "candidates": 6.5}]},
     "candidates must be an integer"),
    ({**TWO, "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1,
                                                       "prompt_version": "v9"}]},
     "prompt_version must be one of v1, v2"),
    ({**TWO, "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1,
                                                       "thinking_budget": -1}]},
     "thinking_budget must be an integer from 0"),
    ({**TWO, "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1,
                                                       "llm": "no"}]},
     "llm must be true or false"),
    ({**TWO, "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1,
                                                       "temperature": 2}]},
     "variant 'b': unknown keys temperature"),
])
def test_a_bad_definition_is_refused_with_a_message_naming_the_problem(data, message):
    with pytest.raises(ExperimentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_experiment(data)


def test_the_setting_refuses_a_bad_file_at_start(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("name: x\nvariants:\n  - {name: a, weight: 1}\n")
    with pytest.raises(SettingsError, match="AI_ASSIST_EXPERIMENT_FILE: experiment file .*"
                                            "variants must be a list of 2 to 4"):
        composition.load({"AI_ASSIST_EXPERIMENT_FILE": str(path)})
    with pytest.raises(SettingsError, match="cannot be read"):
        composition.load({"AI_ASSIST_EXPERIMENT_FILE": str(tmp_path / "missing.yaml")})
    path.write_text("name: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML/JSON"):
        composition.load({"AI_ASSIST_EXPERIMENT_FILE": str(path)})


def test_the_docs_example_file_is_valid():
    from ai_assist.experiments.__main__ import main

    assert main(["check", "docs/examples/experiment/fewer-candidates.yaml"]) == 0
    assert load_experiment("docs/examples/experiment/fewer-candidates.yaml").shares == {
        "control": 0.5, "six": 0.5}


def test_a_good_file_loads_in_yaml_and_in_json(tmp_path):
    (tmp_path / "e.json").write_text(json.dumps(TWO))
    (tmp_path / "e.yaml").write_text("name: fewer-candidates\nvariants:\n"
                                     "  - {name: control, weight: 50}\n"
                                     "  - {name: six, weight: 50, candidates: 6}\n")
    for name in ("e.json", "e.yaml"):
        loaded = load_experiment(tmp_path / name)
        assert loaded.names == ("control", "six")
        assert loaded.variant("six").changes() == {"candidates": 6}
        assert composition.load({"AI_ASSIST_EXPERIMENT_FILE": str(tmp_path / name)}
                                ).experiment == loaded


# --- assignment ----------------------------------------------------------------------
@pytest.mark.parametrize("weights", [(50, 50), (70, 20, 10), (1, 1, 1, 1)])
def test_the_split_follows_the_weights_within_tolerance_over_10000_ids(weights):
    exp = parse_experiment({"name": "split", "variants": [
        {"name": f"v{i}", "weight": w} for i, w in enumerate(weights)]})
    counts = Counter(assign(exp, f"company:{i}").name for i in range(10_000))
    for variant, share in exp.shares.items():
        # 4 standard deviations of a binomial share at n = 10,000: at most ±2 points
        tolerance = 4 * (share * (1 - share) / 10_000) ** 0.5
        assert abs(counts[variant] / 10_000 - share) < tolerance, (variant, counts)


def test_assignment_is_sticky_and_salted_by_the_experiment_name():
    exp = experiment()
    first = [assign(exp, f"company:{i}").name for i in range(2_000)]
    assert first == [assign(exp, f"company:{i}").name for i in range(2_000)]  # sticky
    other = experiment(name="another-test")
    moved = sum(a != assign(other, f"company:{i}").name for i, a in enumerate(first))
    assert 800 < moved < 1_200  # a new experiment reshuffles about half the units


def test_company_id_decides_before_the_client_and_the_header_forces():
    exp = experiment()
    by_company = {choose(exp, "acme", f"10.0.0.{i}", None).label for i in range(50)}
    assert len(by_company) == 1  # whichever replica or client asks for acme
    by_client = choose(exp, None, "10.0.0.7", None)
    assert by_client.unit == "client" and by_client.label == assign(
        exp, "client:10.0.0.7").name
    forced = choose(exp, "acme", "x", " six ", may_force=True)
    assert forced.forced and forced.label == "six"
    with pytest.raises(UnknownVariant, match="has no variant 'seven' .variants: control, six"):
        choose(exp, None, "x", "seven", may_force=True)
    with pytest.raises(UnknownVariant, match="no experiment runs"):
        choose(None, None, "x", "six", may_force=True)
    assert choose(None, "acme", "x", None) is None


def test_only_a_qa_credential_may_force_and_the_refusal_lists_no_variant():
    exp = experiment()
    for name in ("six", "seven", ""):  # known or not: refused before it is looked at
        with pytest.raises(ForcingForbidden) as refused:
            choose(exp, "acme", "x", name)
        assert "AI_ASSIST_EXPERIMENT_QA_KEYS" in str(refused.value)
        assert "control" not in str(refused.value) and "six" not in str(refused.value)
    with pytest.raises(ForcingForbidden):  # no experiment: still no hint for outsiders
        choose(None, None, "x", "six")


# --- statistics on synthetic aggregates ----------------------------------------------
@pytest.fixture(autouse=True)
def frozen_heap():
    """statsmodels' Holm correction calls gc.collect() on every call; in a test process
    that holds torch and the service that costs ~80 ms a call. Objects alive now are
    moved out of the collector's sight for the test (gc.freeze), as a CLI process has
    few of them anyway."""
    gc.freeze()
    yield
    gc.unfreeze()


def draw(rng, name, n, share=0.5, success=0.95, match=0.9, confidence=0.85, tokens=2000.0,
         cancelled=0):
    """A variant's aggregates from n requests drawn from the given truth."""
    ok = rng.binomial(n, success)
    matched = rng.binomial(n, match)
    conf = np.clip(rng.normal(confidence, 0.06, n), 0, 1)
    tok = rng.normal(tokens, 250.0, n)
    return VariantData(name=name, share=share, success=ok, fallback=n - ok,
                       cancelled=cancelled, matched=matched, unmatched=n - matched,
                       confidence_n=n, confidence_sum=conf.sum(),
                       confidence_sq=(conf ** 2).sum(), tokens_sum=tok.sum(),
                       tokens_sq=(tok ** 2).sum())


def significant(report) -> list[str]:
    return [f"{c.variant}:{c.metric}" for c in report.comparisons if c.significant]


RUNS = 300


def test_an_a_a_test_finds_no_difference_at_the_stated_error_rate():
    """Same truth in both arms: the share of runs that declare any difference (over 5
    metrics, Holm-corrected) stays within the family-wise ALPHA, plus sampling noise."""
    rng = np.random.default_rng(11)
    false_positives = 0
    for _ in range(RUNS):
        report = analyse("aa", [draw(rng, "control", 1500), draw(rng, "twin", 1500)])
        false_positives += bool(significant(report))
    bound = ALPHA + 3 * (ALPHA * (1 - ALPHA) / RUNS) ** 0.5
    assert false_positives / RUNS <= bound, false_positives
    # ... and the verdict says so in words
    report = analyse("aa", [draw(rng, "control", 1500), draw(rng, "twin", 1500)])
    assert not significant(report)  # the generator is seeded: this draw is one of the 95 %
    assert report.verdict.startswith("no winner: no significant difference")


def test_an_a_b_test_finds_the_planted_difference_and_only_it():
    """The planted truth: 6 candidates instead of 12 lower the confidence by 0.02 and the
    tokens by 25 %; rates unchanged. Found in (nearly) every run, with the right sign;
    the unchanged metrics stay within the error rate."""
    rng = np.random.default_rng(12)
    found, spurious = Counter(), 0
    for _ in range(RUNS // 3):
        report = analyse("ab", [draw(rng, "control", 1500),
                                draw(rng, "six", 1500, confidence=0.83, tokens=1500.0)])
        for c in report.comparisons:
            if c.significant and c.metric in ("mean_confidence", "tokens_per_request"):
                found[c.metric] += 1
                assert c.better == (c.metric == "tokens_per_request")
            elif c.significant:
                spurious += 1
    assert found["tokens_per_request"] == RUNS // 3
    assert found["mean_confidence"] >= 0.95 * (RUNS // 3)
    assert spurious <= 0.1 * (RUNS // 3)
    assert report.verdict.startswith("no winner (six trades off: better on "
                                     "tokens per request, worse on mean confidence)")


def test_a_skewed_split_is_flagged_as_a_sample_ratio_mismatch():
    rng = np.random.default_rng(13)
    skewed = analyse("srm", [draw(rng, "control", 5_300), draw(rng, "six", 4_700)])
    assert skewed.srm and skewed.srm_p_value < 1e-6
    assert skewed.verdict.startswith("invalid: sample ratio mismatch")
    # the same counts are right for a 53/47 experiment
    fair = analyse("srm", [draw(rng, "control", 5_300, share=0.53),
                           draw(rng, "six", 4_700, share=0.47)])
    assert not fair.srm
    # over fair splits drawn at random, SRM fires at about its own rate (0.1 %)
    flagged = 0
    for _ in range(200):
        n = rng.binomial(10_000, 0.5)
        flagged += analyse("srm", [draw(rng, "a", n), draw(rng, "b", 10_000 - n)]).srm
    assert flagged <= 2


def test_no_verdict_before_the_minimum_sample_size():
    rng = np.random.default_rng(14)
    needed = min_sample_size(0.9)
    assert 400 < needed < 800  # 0.90 -> 0.95 at alpha 0.05, power 0.8 (Cohen's h 0.19)
    report = analyse("early", [draw(rng, "control", 200),
                               draw(rng, "six", 200, confidence=0.5)])
    assert report.min_sample_size == min_sample_size(report.variants[0]["match_rate"])
    assert report.verdict.startswith(f"no winner yet: each variant needs "
                                     f"{report.min_sample_size} answered requests")


def test_the_example_report_is_fresh():
    from ai_assist.experiments.__main__ import main

    assert main(["example", "--check"]) == 0, "run `make experiment-example`"


def test_the_emulator_plants_a_known_confidence_drop_for_fewer_candidates():
    """Off by default (answers unchanged); on, each candidate under 12 costs 0.01."""
    from ai_assist.mapping.prompt import build_prompt
    from ai_assist.mapping.types import Candidate
    from gemini_emulator import answers

    candidates = [Candidate("GRI", f"GRI 305-{i}", f"title {i}", "description", 0.5 - 0.01 * i)
                  for i in range(12)]
    full = answers.parse_prompt(build_prompt("Scope 1 emissions", candidates, ("GRI",), 3))
    six = answers.parse_prompt(build_prompt("Scope 1 emissions", candidates[:6], ("GRI",), 3))
    assert answers.choose(full, 0.01) == answers.choose(full)
    plain, planted = answers.choose(six), answers.choose(six, 0.01)
    assert [m["disclosure_id"] for m in plain] == [m["disclosure_id"] for m in planted]
    for a, b in zip(plain, planted):
        assert a["confidence"] - b["confidence"] == pytest.approx(0.06, abs=0.011)


def test_forced_requests_change_no_figure_and_cache_hits_count_only_in_the_split():
    """What the report leaves out: forced requests and cache hits appear only as counts;
    no figure, test or the split check moves."""
    rng = np.random.default_rng(5)
    honest = [draw(rng, "control", 1500), draw(rng, "treat", 1500)]
    base = analyse("aa", honest)
    gamed = analyse("aa", [replace(honest[0], forced=300),
                           replace(honest[1], forced=300, cached=0)])
    assert gamed.forced == 600 and base.forced == 0
    assert gamed.srm_p_value == base.srm_p_value and gamed.verdict == base.verdict
    assert [c.p_value for c in gamed.comparisons] == [c.p_value for c in base.comparisons]
    assert [r["requests"] for r in gamed.variants] == [1500, 1500]
    assert [r["forced"] for r in gamed.variants] == [300, 300]
    hits = analyse("aa", [replace(honest[0], cached=400), honest[1]])
    assert hits.cache_hits == 400 and hits.variants[0]["cache_hits"] == 400
    assert hits.variants[0]["requests"] == 1500 and hits.srm_p_value == base.srm_p_value
    assert [c.p_value for c in hits.comparisons] == [c.p_value for c in base.comparisons]
