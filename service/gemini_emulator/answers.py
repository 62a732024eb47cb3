"""What the emulated model writes: a deterministic choice among the prompt's candidates.

The choice is language-neutral: candidates are ranked by the similarity the service sent
for them in the prompt (the embedding model's cosine similarity), so a Korean passage
is answered as well as an English one and the whole pipeline's quality on the emulator
is the retrieval's quality. The emulator does not read the passage for meaning: it
stands for Gemini's plumbing (JSON, tokens, latency, faults), not for Gemini's judgement.
Words the passage shares with a candidate only colour the rationale. Everything derives
from the prompt, so the same prompt always gets the same answer.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass

from ai_assist.mapping.prompt import (
    CANDIDATE_LINE, CANDIDATES_CLOSE, CANDIDATES_OPEN, PASSAGE_CLOSE, PASSAGE_OPEN,
    TOP_K_LINE, parse_candidate_fields,
)

MIN_CONFIDENCE, MAX_CONFIDENCE = 0.55, 0.97
KEEP_RATIO = 0.6  # a candidate is chosen when it scores at least this share of the best
REFERENCE_CANDIDATES = 12  # the service's default AI_ASSIST_CANDIDATES
_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
_STOPWORDS = frozenset("""
the and for with from that this were was are has have had its our their which what
when where who how all any per not but also into over under than such these those
other including include includes been being more most each other during about
""".split())


@dataclass(frozen=True)
class PromptCandidate:
    number: int
    disclosure_id: str
    framework: str
    title: str
    description: str
    similarity: float


@dataclass(frozen=True)
class ParsedPrompt:
    passage: str
    candidates: tuple[PromptCandidate, ...]
    top_k: int


def digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


def unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from the parts."""
    return digest(*parts) / 2**64


def _between(text: str, open_tag: str, close_tag: str) -> str | None:
    """The lines between the first line `open_tag` and the next line that starts with
    `close_tag`."""
    start = re.search(rf"^{re.escape(open_tag)}$", text, re.MULTILINE)
    if not start:
        return None
    end = re.compile(rf"^{re.escape(close_tag)}", re.MULTILINE).search(text, start.end())
    return text[start.end(): end.start() if end else len(text)]


def parse_prompt(prompt: str) -> ParsedPrompt:
    block = _between(prompt, CANDIDATES_OPEN, CANDIDATES_CLOSE) or ""
    candidates = []
    for m in CANDIDATE_LINE.finditer(block):
        f = parse_candidate_fields(m.group("fields"))
        if "id" not in f:
            continue
        try:
            similarity = float(f.get("similarity", "0"))
        except ValueError:
            similarity = 0.0
        candidates.append(PromptCandidate(int(m.group("n")), f["id"], f.get("framework", ""),
                                          f.get("title", ""), f.get("description", ""),
                                          similarity))
    passage = _between(prompt, PASSAGE_OPEN, PASSAGE_CLOSE)
    top = TOP_K_LINE.search(prompt)
    return ParsedPrompt(passage=(passage if passage is not None else prompt).strip(),
                        candidates=tuple(candidates),
                        top_k=max(1, int(top.group("k"))) if top else 5)


def words(text: str) -> set[str]:
    return {w for w in (m.group().lower() for m in _WORD.finditer(text))
            if w not in _STOPWORDS}


def _stem(word: str) -> str:
    return word[:5]  # "emissions" ~ "emission", "reporting" ~ "reported"


def choose(parsed: ParsedPrompt, per_missing_candidate: float = 0.0) -> list[dict]:
    """The matches the emulated model picks: 1..top_k of them, best first.

    Ranked by the service's similarity. A candidate is kept while its similarity, placed
    between the lowest and the highest of the prompt's candidates (0..1), reaches
    KEEP_RATIO, so the scale of the embedding model (MiniLM ~0.3-0.7, E5 ~0.75-0.9) does
    not matter. Confidence grows with that relative place and the top similarity.

    `per_missing_candidate` plants a known difference for A/B tests: each candidate the
    prompt has fewer than REFERENCE_CANDIDATES lowers every confidence by that much (a
    model shown fewer alternatives is less sure)."""
    if not parsed.candidates:
        return []
    passage_stems = {_stem(w) for w in words(parsed.passage)}
    ranked = sorted(parsed.candidates, key=lambda c: (-_clamp(c.similarity), c.number))
    best, lowest = _clamp(ranked[0].similarity), _clamp(ranked[-1].similarity)
    spread = best - lowest
    matches = []
    for c in ranked:
        relative = (_clamp(c.similarity) - lowest) / spread if spread > 0 else 1.0
        if relative < KEEP_RATIO or len(matches) == parsed.top_k:
            break
        shared = sorted(w for w in words(f"{c.title} {c.description}")
                        if _stem(w) in passage_stems)
        wobble = (unit(parsed.passage, c.disclosure_id) - 0.5) * 0.02
        confidence = 0.55 + 0.33 * relative + 0.1 * best + wobble
        confidence -= per_missing_candidate * max(0, REFERENCE_CANDIDATES
                                                  - len(parsed.candidates))
        matches.append({"disclosure_id": c.disclosure_id,
                        "confidence": round(min(MAX_CONFIDENCE,
                                                max(MIN_CONFIDENCE, confidence)), 2),
                        "rationale": rationale(c, shared)})
    # confidences follow the ranking (the wobble never reorders it)
    for earlier, later in zip(matches, matches[1:]):
        later["confidence"] = min(later["confidence"], earlier["confidence"])
    return matches


def _clamp(similarity: float) -> float:
    return max(0.0, min(1.0, similarity))


def rationale(c: PromptCandidate, shared: list[str]) -> str:
    subject = c.title or c.disclosure_id
    if shared:
        named = ", ".join(f"'{w}'" for w in shared[:3])
        return f"The passage reports on {named}, which {c.disclosure_id} ({subject}) asks for."
    return (f"The passage is semantically close (similarity {c.similarity:.2f}) to "
            f"{c.disclosure_id} ({subject}).")


def answer_json(matches: list[dict]) -> str:
    return json.dumps({"matches": matches}, ensure_ascii=False)


def invented(matches: list[dict], replace_all: bool) -> list[dict]:
    """Answers naming disclosures that were not among the candidates."""
    fake = {"disclosure_id": "GRI 999-9", "confidence": 0.96,
            "rationale": "The passage answers a disclosure that was not offered."}
    if replace_all:
        return [{**m, "disclosure_id": f"{m['disclosure_id']}-X{n}"}
                for n, m in enumerate(matches or [fake], start=1)]
    return [fake, *matches]


def fenced(text: str) -> str:
    """Valid JSON made invalid the way models do: a code fence and a trailing comma."""
    body = text[:-2] + ",]}" if text.endswith("]}") else text
    return f"Here is the mapping:\n```json\n{body}\n```\n"


def malformed(parsed: ParsedPrompt) -> str:
    first = parsed.candidates[0].disclosure_id if parsed.candidates else "a disclosure"
    return (f"Sure! This passage mainly relates to {first}; the company reports the "
            "figures the disclosure asks for. Let me know if you need anything else.")


def truncated(text: str) -> str:
    """The answer cut off inside its last match, as a max_output_tokens stop leaves it."""
    last = text.rfind('{"disclosure_id"')
    if last <= 0:
        return text[: max(1, len(text) * 2 // 3)]
    cut = last + (len(text) - last) * 2 // 3
    return text[:cut]


def tokens_for(text: str) -> int:
    """Roughly what Gemini's tokenizer gives for English: one token per 4 characters."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def thinking_tokens_for(prompt: str) -> int:
    return 50 + digest(prompt, "thinking") % 251
