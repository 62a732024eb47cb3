"""The values the mapping stages hand each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ParseResult = Literal["valid", "repaired"]


@dataclass(frozen=True)
class Candidate:
    """A disclosure the vector search found near the passage."""
    framework: str
    disclosure_id: str
    title: str
    description: str
    similarity: float


@dataclass(frozen=True)
class Match:
    """A disclosure the passage answers, with how sure the chooser is and why."""
    framework: str
    disclosure_id: str
    title: str
    confidence: float
    rationale: str


@dataclass(frozen=True)
class LLMResult:
    """The LLM's validated choice and what it cost (tokens summed over every attempt)."""
    matches: list[Match] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_input_tokens: int = 0  # part of input_tokens
    attempts: int = 0
    parse_result: ParseResult = "valid"
