"""An A/B experiment as data: a YAML (or JSON) file named by AI_ASSIST_EXPERIMENT_FILE.

    name: fewer-candidates           # [a-z0-9][a-z0-9_-]{0,39}
    description: Do 6 candidates map as well as 12 for less?
    variants:                        # 2 to MAX_VARIANTS
      - name: control                # [a-z0-9][a-z0-9_-]{0,31}, not "none"
        weight: 50                   # > 0; shares are weight / sum of weights
      - name: six
        weight: 50
        candidates: 6                # what the variant changes; unset: the settings'
        # prompt_version: v2         # one of ai_assist.mapping.prompt.PROMPT_VERSIONS
        # gemini_model: gemini-2.5-flash-lite   # must have a price in pricing.py
        # thinking_budget: 0         # 0..MAX_THINKING_BUDGET tokens
        # llm: false                 # answer from the embedding-only fallback

Everything is checked when the service starts (ai_assist/composition.py), with messages that
name the file, the variant and the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

MAX_VARIANTS = 4  # bounds the `variant` label: at most 4 values plus "none"
MAX_CANDIDATES = 50
MAX_THINKING_BUDGET = 24576  # Gemini 2.5 Flash's own limit
VARIANT_NONE = "none"  # the label value when no experiment runs (or before assignment)
EXPERIMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
TOP_KEYS = {"name", "description", "variants"}
VARIANT_KEYS = {"name", "weight", "candidates", "prompt_version", "gemini_model",
                "thinking_budget", "llm"}


class ExperimentError(ValueError):
    pass


@dataclass(frozen=True)
class Variant:
    """One arm; None fields keep the service's settings."""
    name: str
    weight: float
    candidates: int | None = None
    prompt_version: str | None = None
    gemini_model: str | None = None
    thinking_budget: int | None = None
    llm: bool | None = None

    def changes(self) -> dict[str, object]:
        """What this variant sets, for the report and the logs."""
        return {k: v for k, v in (("candidates", self.candidates),
                                  ("prompt_version", self.prompt_version),
                                  ("gemini_model", self.gemini_model),
                                  ("thinking_budget", self.thinking_budget),
                                  ("llm", self.llm)) if v is not None}


@dataclass(frozen=True)
class Experiment:
    name: str
    variants: tuple[Variant, ...]
    description: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def shares(self) -> dict[str, float]:
        total = sum(v.weight for v in self.variants)
        return {v.name: v.weight / total for v in self.variants}

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _variant(raw, number: int, problems: list[str]) -> Variant | None:
    where = f"variant {number}"
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a mapping with at least name and weight")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not VARIANT_NAME.match(name) or name == VARIANT_NONE:
        problems.append(f"{where}: name must match {VARIANT_NAME.pattern} and not be "
                        f"{VARIANT_NONE!r} (got {str(name)[:40]!r})")
        name = f"#{number}"
    else:
        where = f"variant {name!r}"
    unknown = sorted(set(raw) - VARIANT_KEYS)
    if unknown:
        problems.append(f"{where}: unknown keys {', '.join(map(str, unknown))} "
                        f"(known: {', '.join(sorted(VARIANT_KEYS))})")
    weight = raw.get("weight")
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) \
            or not 0 < weight < math.inf:  # NaN fails both comparisons
        problems.append(f"{where}: weight must be a number > 0 (got {weight!r})")
        weight = 1.0
    candidates = raw.get("candidates")
    if candidates is not None and (not _is_int(candidates)
                                   or not 1 <= candidates <= MAX_CANDIDATES):
        problems.append(f"{where}: candidates must be an integer from 1 to {MAX_CANDIDATES} "
                        f"(got {candidates!r})")
    prompt_version = raw.get("prompt_version")
    if prompt_version is not None:
        from ai_assist.mapping.prompt import PROMPT_VERSIONS

        if prompt_version not in PROMPT_VERSIONS:
            problems.append(f"{where}: prompt_version must be one of "
                            f"{', '.join(PROMPT_VERSIONS)} (got {prompt_version!r})")
    model = raw.get("gemini_model")
    if model is not None:
        from ai_assist.pricing import PRICES

        if model not in PRICES:
            problems.append(f"{where}: gemini_model must be one of {', '.join(PRICES)} "
                            f"(models with a price in ai_assist/pricing.py; got {model!r})")
    budget = raw.get("thinking_budget")
    if budget is not None and (not _is_int(budget) or not 0 <= budget <= MAX_THINKING_BUDGET):
        problems.append(f"{where}: thinking_budget must be an integer from 0 to "
                        f"{MAX_THINKING_BUDGET} (got {budget!r})")
    llm = raw.get("llm")
    if llm is not None and not isinstance(llm, bool):
        problems.append(f"{where}: llm must be true or false (got {llm!r})")
    return Variant(name=name, weight=float(weight), candidates=candidates,
                   prompt_version=prompt_version, gemini_model=model,
                   thinking_budget=budget, llm=llm)


def parse_experiment(data, source: str = "the experiment") -> Experiment:
    """An Experiment from decoded YAML/JSON; ExperimentError lists every problem."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ExperimentError(f"{source}: must be a mapping with name and variants")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        problems.append(f"unknown keys {', '.join(map(str, unknown))} "
                        f"(known: {', '.join(sorted(TOP_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not EXPERIMENT_NAME.match(name):
        problems.append(f"name must match {EXPERIMENT_NAME.pattern} (got {str(name)[:50]!r})")
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append("description must be text")
        description = ""
    raw_variants = data.get("variants")
    variants: list[Variant] = []
    if not isinstance(raw_variants, list) or not 2 <= len(raw_variants) <= MAX_VARIANTS:
        count = len(raw_variants) if isinstance(raw_variants, list) else "no list of"
        problems.append(f"variants must be a list of 2 to {MAX_VARIANTS} variants "
                        f"(got {count})")
    else:
        for number, raw in enumerate(raw_variants, start=1):
            variant = _variant(raw, number, problems)
            if variant is not None:
                variants.append(variant)
        names = [v.name for v in variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"variant names must differ ({', '.join(duplicates)} repeated)")
    if problems:
        raise ExperimentError(f"{source}: " + "; ".join(problems))
    return Experiment(name=name, variants=tuple(variants), description=description.strip())


def load_experiment(path: str | Path) -> Experiment:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentError(f"experiment file {str(path)!r} cannot be read: "
                              f"{exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ExperimentError(f"experiment file {str(path)!r} is not valid YAML/JSON: "
                              f"{str(exc).splitlines()[0]}") from exc
    return parse_experiment(data, f"experiment file {str(path)!r}")

