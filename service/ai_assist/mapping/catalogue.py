"""The disclosure catalogue: the GRI, SASB, TCFD and ESRS disclosures a passage can map to.

One JSON file a framework lives in data/ ({"framework", "source", "groups_ko": {group:
Korean name}, "disclosures": [{"id", "title", "title_ko", "description", "group"}]}).
Loading validates every entry, so a bad edit fails at start-up with the file and the entry
named, not later as a strange search result.

`title_ko` is the disclosure's title in Korean and `groups_ko` its standard's (or SASB
industry's) name, in the terms Korean sustainability reports use (the GRI Standards'
Korean translation, TCFD / ESRS / SASB as Korean reports render them). Both are embedded
together with the English text: a Korean passage shares no words with an English title,
and multilingual-e5-small ranks it against a bilingual document better than against the
English alone (`make eval` shows both languages). Both are optional in the format so that
a catalogue of other frameworks can start without them; where `groups_ko` is given it
names every group of the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from ai_assist.frameworks import FRAMEWORKS

DATA_DIR = Path(__file__).with_name("data")
_HANGUL = re.compile("[\uac00-\ud7a3]")
FIELDS = ("id", "title", "description", "group")
OPTIONAL_FIELDS = ("title_ko",)


@dataclass(frozen=True)
class Disclosure:
    framework: str
    id: str
    title: str
    description: str
    group: str
    title_ko: str = ""
    group_ko: str = ""

    @property
    def document(self) -> str:
        """The text that is embedded and searched: the Korean title (when there is one),
        then the English title and description, and the group in Korean and English."""
        korean = f"{self.title_ko}. " if self.title_ko else ""
        group = f"{self.group_ko}; {self.group}" if self.group_ko else self.group
        return f"{korean}{self.title}. {self.description} ({group})"

    def to_metadata(self) -> dict[str, str]:
        """ChromaDB metadata: string values only."""
        return asdict(self)


def _file_name(framework: str) -> str:
    return f"{framework.lower()}.json"


def _entry(framework: str, where: str, index: int, raw: object,
           groups_ko: dict[str, str] | None = None) -> Disclosure:
    label = f"{where}: disclosure #{index}"
    if not isinstance(raw, dict):
        raise ValueError(f"{label} is not a JSON object")
    if isinstance(raw.get("id"), str) and raw["id"].strip():
        label = f"{where}: disclosure {raw['id']!r}"
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        raise ValueError(f"{label} lacks {', '.join(missing)}")
    unknown = sorted(set(raw) - set(FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise ValueError(f"{label} has unknown field(s) {', '.join(unknown)}")
    for field in FIELDS + tuple(f for f in OPTIONAL_FIELDS if f in raw):
        value = raw[field]
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{label} has an empty or non-string {field}")
        if value != value.strip() or "\n" in value:
            raise ValueError(f"{label}: {field} has surrounding whitespace or a line break")
    if not raw["id"].startswith(f"{framework} "):
        raise ValueError(f"{label}: id must start with {framework!r} and a space")
    if "title_ko" in raw and not _HANGUL.search(raw["title_ko"]):
        raise ValueError(f"{label}: title_ko has no Korean (Hangul) text")
    if groups_ko is not None and raw["group"] not in groups_ko:
        raise ValueError(f"{label}: group {raw['group']!r} has no name in groups_ko")
    return Disclosure(framework, raw["id"], raw["title"], raw["description"], raw["group"],
                      raw.get("title_ko", ""), (groups_ko or {}).get(raw["group"], ""))


def _load_file(path: Path, framework: str) -> list[Disclosure]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: catalogue file for {framework} not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: top level must be a JSON object")
    if doc.get("framework") != framework:
        raise ValueError(f"{path}: framework is {doc.get('framework')!r}, expected {framework!r}")
    if not isinstance(doc.get("source"), str) or not doc["source"].strip():
        raise ValueError(f"{path}: source (the edition of the standard) is missing or empty")
    entries = doc.get("disclosures")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: disclosures must be a non-empty list")
    groups_ko = doc.get("groups_ko")
    if groups_ko is not None and (
            not isinstance(groups_ko, dict)
            or not all(isinstance(v, str) and _HANGUL.search(v) for v in groups_ko.values())):
        raise ValueError(f"{path}: groups_ko must map each group to a Korean (Hangul) name")
    return [_entry(framework, path.name, i, raw, groups_ko)
            for i, raw in enumerate(entries, start=1)]


def load_catalogue(frameworks: tuple[str, ...] = FRAMEWORKS, data_dir: Path | None = None
                   ) -> tuple[Disclosure, ...]:
    """Every disclosure of the given frameworks, in framework then file order.

    Raises ValueError naming the file and entry at fault: unknown framework, missing or
    empty field, id without its framework prefix, or an id used twice.
    """
    directory = Path(data_dir) if data_dir is not None else DATA_DIR
    disclosures: list[Disclosure] = []
    seen: dict[str, str] = {}
    for framework in frameworks:
        if framework not in FRAMEWORKS:
            raise ValueError(f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}")
        name = _file_name(framework)
        for d in _load_file(directory / name, framework):
            if d.id in seen:
                raise ValueError(f"{name}: disclosure {d.id!r} duplicates an id already in "
                                 f"{seen[d.id]}")
            seen[d.id] = name
            disclosures.append(d)
    return tuple(disclosures)


def catalogue_fingerprint(disclosures: tuple[Disclosure, ...], model_name: str) -> str:
    """sha256 of the catalogue's content (order-free) and the embedding model's name.

    The embedded text is hashed too, so a change to how documents are built also
    forces the persistent index to be rebuilt.
    """
    rows = sorted([d.framework, d.id, d.title, d.title_ko, d.description, d.group, d.group_ko,
                   d.document] for d in disclosures)
    payload = json.dumps({"model": model_name, "disclosures": rows},
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def counts_by_framework(disclosures: tuple[Disclosure, ...]) -> dict[str, int]:
    """Disclosures per framework, for every known framework (0 where none are loaded)."""
    counts = Counter(d.framework for d in disclosures)
    return {framework: counts.get(framework, 0) for framework in FRAMEWORKS}
