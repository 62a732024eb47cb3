"""A/B experiments: variants as data, sticky assignment, and the statistics report
(`python -m ai_assist.experiments report --prometheus URL --window 7d`)."""

from ai_assist.experiments.assignment import (
    FORCE_HEADER,
    Assignment,
    ForcingForbidden,
    UnknownVariant,
    assign,
    choose,
)
from ai_assist.experiments.definition import (
    MAX_VARIANTS,
    VARIANT_NONE,
    Experiment,
    ExperimentError,
    Variant,
    load_experiment,
    parse_experiment,
)

__all__ = ["FORCE_HEADER", "MAX_VARIANTS", "VARIANT_NONE", "Assignment", "Experiment",
           "ExperimentError", "ForcingForbidden", "UnknownVariant", "Variant", "assign",
           "choose", "load_experiment", "parse_experiment"]
