"""parse_llm_json: valid JSON as is, the usual LLM damage repaired, hopeless text refused."""

from __future__ import annotations

import pytest

from ai_assist.mapping.json_repair import parse_llm_json

MATCH_A = '{"disclosure_id": "GRI 305-1", "confidence": 0.91, "rationale": "Scope 1 total."}'
MATCH_B = '{"disclosure_id": "ESRS E1-6", "confidence": 0.84, "rationale": "Gross emissions."}'
A = {"disclosure_id": "GRI 305-1", "confidence": 0.91, "rationale": "Scope 1 total."}
B = {"disclosure_id": "ESRS E1-6", "confidence": 0.84, "rationale": "Gross emissions."}


def test_valid_json_is_valid():
    assert parse_llm_json(f'{{"matches": [{MATCH_A}, {MATCH_B}]}}') == ({"matches": [A, B]},
                                                                        "valid")
    assert parse_llm_json('  {"matches": []}\n') == ({"matches": []}, "valid")


@pytest.mark.parametrize("raw,expected", [
    (f'```json\n{{"matches": [{MATCH_A}]}}\n```', {"matches": [A]}),
    (f'```\n{{"matches": [{MATCH_A}]}}\n```', {"matches": [A]}),
    (f'Here is the mapping:\n```json\n{{"matches": [{MATCH_A}]}}\n```\nAnything else?',
     {"matches": [A]}),
], ids=["json-fence", "bare-fence", "fence-in-prose"])
def test_code_fences(raw, expected):
    assert parse_llm_json(raw) == (expected, "repaired")


def test_leading_and_trailing_prose():
    raw = f'Sure! Based on the passage, {{"matches": [{MATCH_A}]}} I hope this helps.'
    assert parse_llm_json(raw) == ({"matches": [A]}, "repaired")


def test_prose_with_brackets_before_the_json():
    raw = f'The answer [as requested] uses the {{id}} format: {{"matches": [{MATCH_A}]}}'
    assert parse_llm_json(raw) == ({"matches": [A]}, "repaired")


def test_trailing_commas():
    raw = f'{{"matches": [{MATCH_A[:-1]},}}, {MATCH_B},],}}'
    assert parse_llm_json(raw) == ({"matches": [A, B]}, "repaired")


def test_single_quotes_and_python_literals():
    raw = "{'matches': [{'disclosure_id': 'GRI 305-1', 'confidence': 0.9, 'ok': True, " \
          "'note': None, 'flag': False}]}"
    assert parse_llm_json(raw) == ({"matches": [{"disclosure_id": "GRI 305-1",
                                                 "confidence": 0.9, "ok": True,
                                                 "note": None, "flag": False}]}, "repaired")


def test_unquoted_keys_comments_and_raw_newlines():
    raw = '{matches: [ // best first\n {"disclosure_id": "X", /* sure */ "rationale": ' \
          '"two\nlines"}]}'
    assert parse_llm_json(raw) == ({"matches": [{"disclosure_id": "X",
                                                 "rationale": "two\nlines"}]}, "repaired")


def test_escapes_survive_repair():
    raw = "{'r': 'it\\'s \\\"q\\\" \\u00e9\\n'}"
    assert parse_llm_json(raw) == ({"r": "it's \"q\" é\n"}, "repaired")


@pytest.mark.parametrize("cut", [
    ', {"disclosure_id": "ESRS E1-6", "confidence": 0.84, "rationale": "Gross emi',  # string
    ', {"disclosure_id": "ESRS E1-6", "confidence": 0.8',                           # number
    ', {"disclosure_id": "ESRS E1-6", "confid',                                     # key
    ', {',
    ',',
], ids=["in-string", "in-number", "in-key", "open-brace", "after-comma"])
def test_truncated_output_drops_the_cut_off_last_element(cut):
    raw = f'{{"matches": [{MATCH_A}{cut}'
    assert parse_llm_json(raw) == ({"matches": [A]}, "repaired")


def test_truncated_after_a_complete_element_keeps_it():
    raw = f'{{"matches": [{MATCH_A}, {MATCH_B}'
    assert parse_llm_json(raw) == ({"matches": [A, B]}, "repaired")


def test_truncated_inside_the_first_element_leaves_an_empty_list():
    assert parse_llm_json('{"matches": [{"disclosure_id": "GRI 30') == ({"matches": []},
                                                                         "repaired")


def test_truncated_root_object_keeps_its_complete_members():
    assert parse_llm_json('{"a": 1, "b": [1, 2], "c": "unfinish') == ({"a": 1, "b": [1, 2]},
                                                                       "repaired")


def test_truncated_nested_arrays_drop_only_the_innermost_element():
    assert parse_llm_json("[[1, 2], [3, 4") == ([[1, 2], [3]], "repaired")


def test_truncated_inside_an_unclosed_fence():
    raw = f'```json\n{{"matches": [{MATCH_A}, {MATCH_B[:30]}'
    assert parse_llm_json(raw) == ({"matches": [A]}, "repaired")


def test_numbers_keep_their_type():
    value, result = parse_llm_json("{'i': 12345678901234567890, 'f': -0.5e-3, 'g': .5,}")
    assert result == "repaired"
    assert value == {"i": 12345678901234567890, "f": -0.0005, "g": 0.5}
    assert isinstance(value["i"], int)


@pytest.mark.parametrize("raw", [
    "",
    "   \n",
    "Sorry, I cannot map this passage to any disclosure.",
    "The best match is GRI 305-1 with high confidence.",
    '{"matches" [1]}',
    "[unquoted, words]",
    "{'a': 'bad \\u12zz escape'}",
], ids=["empty", "blank", "prose", "prose-with-id", "missing-colon", "bare-words",
        "bad-escape"])
def test_hopeless_input_raises(raw):
    with pytest.raises(ValueError):
        parse_llm_json(raw)


def test_a_lone_brace_is_an_empty_object():
    assert parse_llm_json("Answer: {") == ({}, "repaired")


def test_a_scalar_is_only_accepted_when_it_is_valid_json():
    assert parse_llm_json('"just text"') == ("just text", "valid")
    with pytest.raises(ValueError):
        parse_llm_json("tru")


def test_none_raises():
    with pytest.raises(ValueError):
        parse_llm_json(None)  # type: ignore[arg-type]


def test_deep_nesting_does_not_crash():
    with pytest.raises(ValueError):
        parse_llm_json("[" * 50_000)
