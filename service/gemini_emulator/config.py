"""The emulator's runtime settings: set at start (command line) and changed live through
`POST /_emulator/config` (a partial JSON object; unknown keys are refused)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

# Faults the emulator can produce, by rate or by marker (see the package docstring).
FAULTS: tuple[str, ...] = (
    "400", "429", "500", "503", "timeout", "malformed", "truncated", "empty", "fenced",
    "invented", "invented_all", "hang", "not_json",
)
# Outcomes that answer with HTTP 200, a body Gemini bills: faulty or not.
ANSWERED: tuple[str, ...] = ("ok", "malformed", "truncated", "empty", "fenced", "invented",
                             "invented_all")
# Outcomes counted in /_emulator/stats: "ok", every fault, and refused requests.
OUTCOMES: tuple[str, ...] = ("ok", *FAULTS, "bad_request", "unauthenticated")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class EmulatorConfig:
    latency_ms: float = 0.0            # added to every answer
    jitter_ms: float = 0.0             # plus uniform(0, jitter_ms)
    fault_rates: dict[str, float] = field(default_factory=dict)  # fault -> probability
    seed: int = 0                      # seeds the rate and jitter draws
    prompt_tokens: int | None = None   # usage overrides; None: about chars / 4
    output_tokens: int | None = None
    thinking_tokens: int | None = None  # None: a deterministic 50..300 per prompt
    # prompt tokens reported as served from the context cache (cachedContentTokenCount,
    # at most the prompt); None or 0: none, as Gemini reports a prompt it did not cache
    cached_tokens: int | None = None
    hang_s: float = 600.0              # how long a timeout fault holds the request
    retry_delay_s: float | None = None  # RetryInfo.retryDelay sent with 429s
    # A/B experiments' planted difference: each candidate a prompt has fewer than
    # REFERENCE_CANDIDATES lowers every confidence of the answer by this much (0: off)
    confidence_per_missing_candidate: float = 0.0

    def to_json(self) -> dict:
        data = asdict(self)
        data["fault_rates"] = {k: self.fault_rates.get(k, 0.0) for k in FAULTS}
        return data

    def updated(self, changes: dict) -> "EmulatorConfig":
        if not isinstance(changes, dict):
            raise ConfigError("the config must be a JSON object")
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
        values = dict(changes)
        if "fault_rates" in values:
            rates = values["fault_rates"]
            if not isinstance(rates, dict):
                raise ConfigError("fault_rates must be an object of fault -> probability")
            values["fault_rates"] = {**self.fault_rates, **rates}
        try:
            config = replace(self, **values)
        except TypeError as exc:
            raise ConfigError(str(exc)) from exc
        config.validate()
        return config

    def validate(self) -> None:
        problems = []
        for name in ("latency_ms", "jitter_ms", "hang_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                problems.append(f"{name} must be a number >= 0")
        for name in ("prompt_tokens", "output_tokens", "thinking_tokens", "cached_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                problems.append(f"{name} must be null or an integer >= 0")
        if self.retry_delay_s is not None and (not isinstance(self.retry_delay_s, (int, float))
                                               or self.retry_delay_s < 0):
            problems.append("retry_delay_s must be null or a number >= 0")
        step = self.confidence_per_missing_candidate
        if not isinstance(step, (int, float)) or isinstance(step, bool) or not 0 <= step <= 0.1:
            problems.append("confidence_per_missing_candidate must be a number in 0..0.1")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            problems.append("seed must be an integer")
        for fault, rate in self.fault_rates.items():
            if fault not in FAULTS:
                problems.append(f"fault_rates: unknown fault {fault!r} "
                                f"(known: {', '.join(FAULTS)})")
            elif not isinstance(rate, (int, float)) or isinstance(rate, bool) \
                    or not 0 <= rate <= 1:
                problems.append(f"fault_rates[{fault!r}] must be a probability in 0..1")
        if not problems and sum(self.fault_rates.values()) > 1 + 1e-9:
            problems.append("fault_rates must add up to at most 1")
        if problems:
            raise ConfigError("; ".join(problems))
