"""The disclosure catalogue: the real data files load, hold what the service promises, and a
bad file is refused with the entry named."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

import pytest

from ai_assist.frameworks import FRAMEWORKS
from ai_assist.mapping.catalogue import (DATA_DIR, catalogue_fingerprint, counts_by_framework,
                                         load_catalogue)
from ai_assist.mapping.prompt import MAX_DESCRIPTION_CHARS

CATALOGUE = load_catalogue()
IDS = {d.id for d in CATALOGUE}
MODEL = "intfloat/multilingual-e5-base"


def ids_of(group_prefix: str) -> set[str]:
    return {d.id for d in CATALOGUE if d.group.startswith(group_prefix)}


def test_ids_are_unique_and_every_framework_is_present():
    assert len(IDS) == len(CATALOGUE)
    counts = counts_by_framework(CATALOGUE)
    assert set(counts) == set(FRAMEWORKS) and all(counts.values())
    assert sum(counts.values()) == len(CATALOGUE)


def test_tcfd_has_exactly_the_11_recommended_disclosures():
    assert {d.id for d in CATALOGUE if d.framework == "TCFD"} == {
        "TCFD Governance a", "TCFD Governance b",
        "TCFD Strategy a", "TCFD Strategy b", "TCFD Strategy c",
        "TCFD Risk Management a", "TCFD Risk Management b", "TCFD Risk Management c",
        "TCFD Metrics and Targets a", "TCFD Metrics and Targets b", "TCFD Metrics and Targets c"}


def test_gri_universal_and_topic_standards_are_complete():
    assert {f"GRI 2-{n}" for n in range(1, 31)} == ids_of("GRI 2:")
    assert {"GRI 3-1", "GRI 3-2", "GRI 3-3"} == ids_of("GRI 3:")
    assert {f"GRI 305-{n}" for n in range(1, 8)} == ids_of("GRI 305:")
    assert {f"GRI 303-{n}" for n in range(1, 6)} == ids_of("GRI 303:")
    assert {f"GRI 306-{n}" for n in range(1, 6)} == ids_of("GRI 306:")
    assert {f"GRI 403-{n}" for n in range(1, 11)} == ids_of("GRI 403:")
    standards = {int(d.group.split(":")[0].removeprefix("GRI ")) for d in CATALOGUE
                 if d.framework == "GRI"}
    assert standards >= set(range(201, 208)) | set(range(301, 307)) | {308}
    assert standards >= set(range(401, 419))
    assert not standards & {1, 102, 103, 307, 419}  # GRI 1 has no disclosures; the rest are withdrawn
    gri = [d for d in CATALOGUE if d.framework == "GRI"]
    for d in gri:  # the id's standard number is its group's
        assert d.id.split()[1].split("-")[0] == d.group.split(":")[0].removeprefix("GRI ")


def test_esrs_covers_esrs_2_and_every_topical_standard():
    esrs_2 = {"BP-1", "BP-2", "GOV-1", "GOV-2", "GOV-3", "GOV-4", "GOV-5",
              "SBM-1", "SBM-2", "SBM-3", "IRO-1", "IRO-2"}
    assert {f"ESRS 2 {code}" for code in esrs_2} <= ids_of("ESRS 2 ")
    expected = {"E1": 9, "E2": 6, "E3": 5, "E4": 6, "E5": 6, "S1": 17, "S2": 5, "S3": 5,
                "S4": 5, "G1": 6}
    for standard, count in expected.items():
        assert ids_of(f"ESRS {standard} ") == {f"ESRS {standard}-{n}"
                                               for n in range(1, count + 1)}, standard
    assert "ESRS E1-6" in IDS


def test_sasb_topics_span_several_industries_with_topic_codes():
    sasb = [d for d in CATALOGUE if d.framework == "SASB"]
    industries = {d.group for d in sasb}
    assert len(industries) >= 6
    for d in sasb:
        assert re.fullmatch(r"SASB [A-Z]{2}-[A-Z]{2}-\d{3}[a-z]", d.id), d.id
    codes: dict[str, set[str]] = {}
    for d in sasb:
        codes.setdefault(d.group, set()).add(d.id.split()[1][:5])
    assert all(len(c) == 1 for c in codes.values()), codes  # one industry code an industry
    assert "SASB EM-EP-110a" in IDS


def test_every_entry_is_fit_for_the_prompt_and_the_index():
    for d in CATALOGUE:
        assert "|" not in d.id + d.title + d.description + d.group, d.id
        assert len(d.description) <= MAX_DESCRIPTION_CHARS, d.id  # never cut in the prompt
        assert d.description.endswith(".") and d.description[0].isupper(), d.id
        assert d.title in d.document and d.description in d.document and d.group in d.document
        metadata = d.to_metadata()
        assert metadata["framework"] == d.framework and metadata["id"] == d.id
        assert all(isinstance(v, str) and v for v in metadata.values())


def test_every_disclosure_has_a_korean_title_embedded_with_its_english_text():
    """Korean passages share no words with English titles: each disclosure carries its
    Korean title, and the embedded document holds both (issue 10)."""
    hangul = re.compile("[\uac00-\ud7a3]")
    for d in CATALOGUE:
        assert hangul.search(d.title_ko) and hangul.search(d.group_ko), d.id
        assert d.document.startswith(f"{d.title_ko}. {d.title}. "), d.id
        assert d.document.endswith(f"({d.group_ko}; {d.group})"), d.id
    assert len({d.title_ko for d in CATALOGUE if d.framework == "GRI"}) == len(ids_of("GRI"))


def test_a_catalogue_without_korean_names_still_loads(data_copy):
    def english_only(doc):
        doc.pop("groups_ko")
        for d in doc["disclosures"]:
            d.pop("title_ko")

    rewrite(data_copy, "tcfd.json", english_only)
    tcfd = load_catalogue(("TCFD",), data_dir=data_copy)
    assert all(d.title_ko == d.group_ko == "" and d.document ==
               f"{d.title}. {d.description} ({d.group})" for d in tcfd)


def test_frameworks_argument_selects_files_and_rejects_unknown_ones():
    only = load_catalogue(("TCFD",))
    assert {d.framework for d in only} == {"TCFD"} and len(only) == 11
    assert counts_by_framework(only) == {f: (11 if f == "TCFD" else 0) for f in FRAMEWORKS}
    with pytest.raises(ValueError, match="unknown framework 'CDP'"):
        load_catalogue(("GRI", "CDP"))


def test_fingerprint_is_stable_and_follows_content_and_model():
    base = catalogue_fingerprint(CATALOGUE, MODEL)
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert catalogue_fingerprint(load_catalogue(), MODEL) == base
    assert catalogue_fingerprint(tuple(reversed(CATALOGUE)), MODEL) == base  # order-free
    assert catalogue_fingerprint(CATALOGUE, "bundled:all-MiniLM-L6-v2") != base
    edited = list(CATALOGUE)
    edited[0] = dataclasses.replace(edited[0], description=edited[0].description + " More.")
    assert catalogue_fingerprint(tuple(edited), MODEL) != base
    korean = list(CATALOGUE)
    korean[0] = dataclasses.replace(korean[0], title_ko=korean[0].title_ko + " 현황")
    assert catalogue_fingerprint(tuple(korean), MODEL) != base
    korean[0] = dataclasses.replace(CATALOGUE[0], group_ko="GRI 2: 일반 공시 2021")
    assert catalogue_fingerprint(tuple(korean), MODEL) != base
    assert catalogue_fingerprint(CATALOGUE[1:], MODEL) != base


@pytest.fixture
def data_copy(tmp_path):
    for path in DATA_DIR.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def rewrite(directory, name, change):
    path = directory / name
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_a_copy_of_the_data_loads_like_the_original(data_copy):
    assert load_catalogue(data_dir=data_copy) == CATALOGUE


MALFORMED = [
    ("empty description", "gri.json",
     lambda doc: doc["disclosures"][0].update(description="  "),
     r"gri\.json: disclosure 'GRI 2-1' has an empty or non-string description"),
    ("missing title", "esrs.json",
     lambda doc: doc["disclosures"][5].pop("title"),
     r"esrs\.json: disclosure 'ESRS 2 GOV-4' lacks title"),
    ("wrong prefix", "tcfd.json",
     lambda doc: doc["disclosures"][0].update(id="GRI Governance a"),
     r"tcfd\.json: disclosure 'GRI Governance a': id must start with 'TCFD'"),
    ("duplicate within a file", "sasb.json",
     lambda doc: doc["disclosures"][1].update(id=doc["disclosures"][0]["id"]),
     r"sasb\.json: disclosure 'SASB EM-EP-110a' duplicates an id already in sasb\.json"),
    ("wrong framework", "sasb.json", lambda doc: doc.update(framework="GRI"),
     r"sasb\.json: framework is 'GRI', expected 'SASB'"),
    ("unknown field", "gri.json",
     lambda doc: doc["disclosures"][2].update(titel="typo"),
     r"gri\.json: disclosure 'GRI 2-3' has unknown field\(s\) titel"),
    ("no source", "gri.json", lambda doc: doc.pop("source"), r"gri\.json: source"),
    ("not an object", "tcfd.json", lambda doc: doc["disclosures"].append("x"),
     r"tcfd\.json: disclosure #12 is not a JSON object"),
    ("Korean title without Korean", "gri.json",
     lambda doc: doc["disclosures"][0].update(title_ko="Organizational details"),
     r"gri\.json: disclosure 'GRI 2-1': title_ko has no Korean \(Hangul\) text"),
    ("a group without its Korean name", "esrs.json",
     lambda doc: doc["groups_ko"].pop("ESRS E2 Pollution"),
     r"esrs\.json: disclosure 'ESRS E2-1': group 'ESRS E2 Pollution' has no name in groups_ko"),
    ("a Korean group name without Korean", "sasb.json",
     lambda doc: doc["groups_ko"].update({"SASB Chemicals": "Chemicals"}),
     r"sasb\.json: groups_ko must map each group to a Korean \(Hangul\) name"),
    ("empty Korean title", "tcfd.json",
     lambda doc: doc["disclosures"][0].update(title_ko=" "),
     r"tcfd\.json: disclosure 'TCFD Governance a' has an empty or non-string title_ko"),
]


@pytest.mark.parametrize("name, change, message", [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_a_malformed_file_is_refused_with_the_entry_named(data_copy, name, change, message):
    rewrite(data_copy, name, change)
    with pytest.raises(ValueError, match=message):
        load_catalogue(data_dir=data_copy)


def test_invalid_json_and_missing_files_are_named(data_copy):
    (data_copy / "esrs.json").write_text('{"framework": "ESRS",', encoding="utf-8")
    with pytest.raises(ValueError, match=r"esrs\.json: not valid JSON"):
        load_catalogue(data_dir=data_copy)
    (data_copy / "tcfd.json").unlink()
    with pytest.raises(ValueError, match=r"tcfd\.json: catalogue file for TCFD not found"):
        load_catalogue(("TCFD",), data_dir=data_copy)
