"""The fallback: an embedding-only ranking used when the LLM fails or is off.

Cosine similarity is turned into a confidence with a logistic curve fitted per model
family (the scales of MiniLM and E5 similarities differ a lot), capped below the LLM's
top confidence since no model has read the passage.
"""

from __future__ import annotations

import math

from ai_assist.mapping.types import Candidate, Match

# (similarity at which confidence is 0.5, logistic scale) per model family.
CALIBRATION = {
    "e5": (0.80, 0.025),
    "default": (0.40, 0.07),
}
MAX_FALLBACK_CONFIDENCE = 0.9


def calibrated_confidence(similarity: float, model_name: str) -> float:
    centre, scale = CALIBRATION["e5" if "e5" in model_name.lower() else "default"]
    value = 1 / (1 + math.exp(-(similarity - centre) / scale))
    return round(min(MAX_FALLBACK_CONFIDENCE, value), 4)


def rank(candidates: list[Candidate], top_k: int, model_name: str) -> list[Match]:
    ranked = sorted(candidates, key=lambda c: c.similarity, reverse=True)[:top_k]
    return [Match(framework=c.framework, disclosure_id=c.disclosure_id, title=c.title,
                  confidence=calibrated_confidence(c.similarity, model_name),
                  rationale=f"Embedding similarity {c.similarity:.2f} to the disclosure "
                            f"text (fallback ranking; the LLM answer was not available).")
            for c in ranked]
