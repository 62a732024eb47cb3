"""The composition root: what the service is built from, loaded and cross-checked once.

Settings (ai_assist/config.py) check each value on its own. Here, at start-up and in one
place, the files and tables that settings name or must agree with are read and checked
against each other: the disclosure catalogue, the API keys (and the QA key names among
them), the trusted proxies, the A/B experiment, the canary's golden set (whose expected
ids must be in the catalogue) and the price table (the Gemini model must have a price).
The loaded objects are handed on (ai_assist/app.py, the canary), so nothing reads them
again. A problem is a SettingsError naming the setting, as a bad value is."""

from __future__ import annotations

from dataclasses import dataclass

from ai_assist.canary import DEFAULT_SET, GoldenSet, load_golden_set
from ai_assist.config import Settings, SettingsError
from ai_assist.experiments import Experiment, ExperimentError, load_experiment
from ai_assist.identity import ApiKeys, parse_networks
from ai_assist.mapping.catalogue import Disclosure, load_catalogue
from ai_assist.pricing import PRICES


@dataclass(frozen=True)
class Domain:
    """The settings and the domain objects they name, each loaded once."""

    settings: Settings
    catalogue: tuple[Disclosure, ...]
    api_keys: ApiKeys
    experiment: Experiment | None = None  # AI_ASSIST_EXPERIMENT_FILE
    golden_set: GoldenSet | None = None  # the canary's, when it is on


def load(env: dict[str, str] | None = None) -> Domain:
    """Settings from the environment (os.environ when None), and what they name."""
    return compose(Settings.from_env(env))


def compose(settings: Settings) -> Domain:
    """Load and cross-check what `settings` name; SettingsError lists every problem."""
    problems: list[str] = []
    catalogue = tuple(load_catalogue())
    if settings.gemini_model not in PRICES:
        problems.append(f"AI_ASSIST_GEMINI_MODEL must be one of {', '.join(PRICES)} "
                        "(models with a price in ai_assist/pricing.py)")
    api_keys = _api_keys(settings, problems)
    try:
        parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        problems.append(f"AI_ASSIST_TRUSTED_PROXIES: {exc}")
    experiment = _experiment(settings, problems)
    golden_set = _golden_set(settings, catalogue, problems)
    if problems:
        raise SettingsError("invalid settings: " + "; ".join(problems))
    return Domain(settings, catalogue, api_keys, experiment, golden_set)


def _api_keys(settings: Settings, problems: list[str]) -> ApiKeys:
    try:
        api_keys = ApiKeys(settings.api_keys)
    except ValueError as exc:  # the message names the entry, never the key
        problems.append(f"AI_ASSIST_API_KEYS: {exc}")
        return ApiKeys("")
    unknown = [name for name in settings.qa_key_names if not api_keys.has(name)]
    if unknown:
        problems.append(f"AI_ASSIST_EXPERIMENT_QA_KEYS: {', '.join(map(repr, unknown))} "
                        "is not the name of a key in AI_ASSIST_API_KEYS")
    return api_keys


def _experiment(settings: Settings, problems: list[str]) -> Experiment | None:
    if not settings.experiment_file:
        return None
    try:
        return load_experiment(settings.experiment_file)
    except ExperimentError as exc:
        problems.append(f"AI_ASSIST_EXPERIMENT_FILE: {exc}")
        return None


def _golden_set(settings: Settings, catalogue: tuple[Disclosure, ...],
                problems: list[str]) -> GoldenSet | None:
    if settings.canary_interval_s <= 0:
        return None
    try:
        return load_golden_set(settings.canary_set or DEFAULT_SET,
                               frozenset(d.id for d in catalogue))
    except ValueError as exc:
        problems.append(f"AI_ASSIST_CANARY_SET: {exc}")
        return None
