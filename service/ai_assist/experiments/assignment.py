"""Which variant a request gets: sticky and deterministic, a pure function of the request.

The unit is the company (company_id) when the request names one, else the client (the API
key's name or the peer address, ai_assist/identity.py): every replica puts a unit in the
same variant without sharing state. The bucket is the first 8 bytes of
SHA-256(experiment name, unit) read as a number in [0, 1), so a new experiment name
reshuffles the units (no carry-over between experiments), and it falls into the
variants' cumulative weight shares in file order.

The header X-Experiment-Variant forces a variant. It is a QA tool, so it is honoured only
for a QA credential (the admin key, or an API key named in AI_ASSIST_EXPERIMENT_QA_KEYS):
anyone else who sends it gets a 403 (ForcingForbidden), before the header's value is
even looked at, so the refusal does not list the variants. A name the experiment does
not have is a 400. A forced request is answered by the variant it asked for and stays
out of the comparison (the app labels its metrics variant="none" and counts it in
esg_experiment_excluded_requests_total{reason="forced"}): a variant chosen by the
client says nothing about the variant the assignment would have given it.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from ai_assist.experiments.definition import Experiment, Variant

FORCE_HEADER = "X-Experiment-Variant"


def bucket(experiment_name: str, unit: str) -> float:
    digest = hashlib.sha256(f"{experiment_name}\x1f{unit}".encode("utf-8",
                                                                  "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: Experiment, unit: str) -> Variant:
    shares = list(accumulate(experiment.shares.values()))
    index = bisect_right(shares, bucket(experiment.name, unit))
    return experiment.variants[min(index, len(experiment.variants) - 1)]


class UnknownVariant(ValueError):
    pass


class ForcingForbidden(PermissionError):
    pass


FORBIDDEN_MESSAGE = (f"{FORCE_HEADER} is a QA tool: only the admin key and the API keys "
                     "named in AI_ASSIST_EXPERIMENT_QA_KEYS may force a variant; send the "
                     "request without the header to be served this client's own variant")


@dataclass(frozen=True)
class Assignment:
    experiment: str
    variant: Variant
    forced: bool
    unit: str  # "company" or "client": what the assignment hashed

    @property
    def label(self) -> str:
        return self.variant.name


def choose(experiment: Experiment | None, company_id: str | None, client: str,
           forced: str | None, may_force: bool = False) -> Assignment | None:
    """The request's assignment; None when no experiment runs. ForcingForbidden when the
    forcing header comes without a QA credential (`may_force`); UnknownVariant when it
    names no variant (or an experiment that is not running)."""
    if forced is not None:
        if not may_force:
            raise ForcingForbidden(FORBIDDEN_MESSAGE)
        forced = forced.strip()
        if experiment is None:
            raise UnknownVariant(f"{FORCE_HEADER} given but no experiment runs "
                                 "(AI_ASSIST_EXPERIMENT_FILE is not set)")
        variant = experiment.variant(forced)
        if variant is None:
            raise UnknownVariant(f"{FORCE_HEADER}: experiment {experiment.name!r} has no "
                                 f"variant {forced[:40]!r} (variants: "
                                 f"{', '.join(experiment.names)})")
        return Assignment(experiment.name, variant, True, "forced")
    if experiment is None:
        return None
    if company_id:
        return Assignment(experiment.name, assign(experiment, f"company:{company_id}"),
                          False, "company")
    return Assignment(experiment.name, assign(experiment, f"client:{client}"), False,
                      "client")
