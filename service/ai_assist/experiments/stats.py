"""The A/B statistics, from maintained libraries (scipy, statsmodels), on aggregates.

Everything here works on per-variant sums that Prometheus holds as counters, so the
figures aggregate across replicas: counts for the rates, and for the means the count, the
sum and the sum of squares (mean = S/n, variance = (Q - n mean^2) / (n - 1)).

- rates (success, fallback, match): two-proportion z-test,
  statsmodels.stats.proportion.proportions_ztest;
- means (confidence, tokens per request): Welch's t-test from the aggregates,
  scipy.stats.ttest_ind_from_stats(equal_var=False);
- sample-ratio mismatch: chi-square goodness of fit of the requests per variant against
  the configured weights, scipy.stats.chisquare; flagged below SRM_ALPHA. It counts the
  compared requests (neither forced nor cache hits, below);
- minimum sample size per variant: statsmodels' NormalIndPower on the match rate's
  Cohen's h (proportion_effectsize) for a minimum detectable effect (MDE, default 5
  percentage points), at ALPHA and POWER;
- many metrics and variants at once: Holm's correction over every comparison,
  statsmodels.stats.multitest.multipletests(method="holm") (family-wise error <= ALPHA).
  Looking again and again at a running experiment is guarded by the sample-size floor:
  no verdict is given before every variant has reached it.

The first variant is the control; each other variant is compared with it.

Like with like: the compared figures are those of requests the assignment placed and
the variant answered itself. Forced requests (X-Experiment-Variant, QA credentials only)
are left out: the client chose their variant, and with it what goes into that variant's
figures. Response-cache hits are left out of every per-variant statistic: a hit repeats
an answer its variant already made (and that was counted then), at no token cost and in
about a millisecond because of the cache, not of the variant; counting it again would
also weigh a passage by how often one client resends it. Both are counted (`forced`,
`cached`) and shown in the report. The sample-ratio check counts the compared requests
too: it asks whether the population compared follows the weights, and one client that
resends a passage hundreds of times (hits, all in its company's variant) must not make
the experiment read as broken any more than it may make it read as won.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

from scipy.stats import chisquare, ttest_ind_from_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

ALPHA = 0.05
POWER = 0.8
SRM_ALPHA = 0.001  # the usual SRM threshold: a split this unlikely means broken assignment
DEFAULT_MDE = 0.05  # smallest match-rate difference (absolute) worth detecting

# metric -> (kind, which direction is better)
METRICS = {
    "success_rate": ("proportion", "higher"),
    "fallback_rate": ("proportion", "lower"),
    "match_rate": ("proportion", "higher"),
    "mean_confidence": ("mean", "higher"),
    "tokens_per_request": ("mean", "lower"),
}
# what the report calls them
METRIC_LABELS = {"success_rate": "success rate", "fallback_rate": "fallback rate",
                 "match_rate": "match rate", "mean_confidence": "mean confidence",
                 "tokens_per_request": "tokens per request"}


def points(share: float) -> str:
    """A difference of two proportions, in percentage points."""
    return f"{share * 100:g} pp"


@dataclass(frozen=True)
class VariantData:
    """One variant's aggregates over the window (counts may be Prometheus floats)."""
    name: str
    share: float  # configured share of the traffic (0..1)
    success: float = 0
    fallback: float = 0
    error: float = 0
    cancelled: float = 0
    matched: float = 0
    unmatched: float = 0
    confidence_n: float = 0
    confidence_sum: float = 0.0
    confidence_sq: float = 0.0
    tokens_sum: float = 0.0
    tokens_sq: float = 0.0
    cost_usd: float = 0.0
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    forced: float = 0  # served by this variant because a QA credential forced it
    cached: float = 0  # assigned here, answered from the response cache

    @property
    def answered(self) -> float:
        """Answered by the variant itself: the comparison's requests."""
        return self.success + self.fallback + self.error

    @property
    def assigned(self) -> float:
        """Placed in this variant by the assignment and answered by it, or cancelled:
        what the split check counts (cache hits and forced requests are not)."""
        return self.answered + self.cancelled

    def proportion(self, metric: str) -> tuple[int, int]:
        """(successes, trials) of a rate metric, as whole numbers."""
        if metric == "match_rate":
            return round(self.matched), round(self.matched + self.unmatched)
        count = {"success_rate": self.success, "fallback_rate": self.fallback}[metric]
        return round(count), round(self.answered)

    def moments(self, metric: str) -> tuple[float, float, float]:
        """(mean, standard deviation, n) of a mean metric."""
        if metric == "mean_confidence":
            n, s, q = self.confidence_n, self.confidence_sum, self.confidence_sq
        else:
            n, s, q = self.answered, self.tokens_sum, self.tokens_sq
        if n <= 0:
            return math.nan, math.nan, 0.0
        mean = s / n
        variance = max(0.0, (q - n * mean * mean) / (n - 1)) if n > 1 else math.nan
        return mean, math.sqrt(variance), n

    def value(self, metric: str) -> float:
        kind, _ = METRICS[metric]
        if kind == "proportion":
            hits, trials = self.proportion(metric)
            return hits / trials if trials else math.nan
        return self.moments(metric)[0]


@dataclass
class Comparison:
    variant: str
    metric: str
    control_value: float
    variant_value: float
    difference: float  # variant - control
    p_value: float | None  # None: not testable (too few samples)
    p_adjusted: float | None = None
    significant: bool = False
    better: bool | None = None  # None when not significant


@dataclass
class Report:
    experiment: str
    window: str
    control: str
    variants: list[dict]
    srm_p_value: float | None
    srm: bool
    min_sample_size: int
    mde: float
    comparisons: list[Comparison] = field(default_factory=list)
    verdict: str = ""
    alpha: float = ALPHA
    forced: int = 0  # requests forced by QA credentials: left out of everything above
    cache_hits: int = 0  # left out of the per-variant statistics, in the split check

    def to_json(self) -> dict:
        return _finite(asdict(self))


def _finite(obj):
    """JSON has no NaN: None instead."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def srm_test(observed: list[float], shares: list[float]) -> float | None:
    """p-value of the chi-square goodness-of-fit test of the split; None without data."""
    counts = [round(o) for o in observed]
    total = sum(counts)
    if total <= 0:
        return None
    expected = [total * s / sum(shares) for s in shares]
    return float(chisquare(counts, expected).pvalue)


def two_proportions(a: tuple[int, int], b: tuple[int, int]) -> float | None:
    (x1, n1), (x2, n2) = a, b
    if n1 < 1 or n2 < 1:
        return None
    if x1 + x2 in (0, n1 + n2):  # both all-or-nothing and equal: no evidence of a difference
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, p = proportions_ztest([x1, x2], [n1, n2])
    return float(p) if math.isfinite(p) else 1.0


def welch(a: tuple[float, float, float], b: tuple[float, float, float]) -> float | None:
    (m1, s1, n1), (m2, s2, n2) = a, b
    if n1 < 2 or n2 < 2 or not (math.isfinite(s1) and math.isfinite(s2)):
        return None
    if s1 == 0 and s2 == 0:
        return 1.0 if m1 == m2 else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=False).pvalue
    return float(p) if math.isfinite(p) else 1.0


def min_sample_size(baseline: float, mde: float = DEFAULT_MDE, alpha: float = ALPHA,
                    power: float = POWER) -> int:
    """Requests per variant to detect a match-rate change of `mde` (absolute) from
    `baseline` with a two-sided test at `alpha` with `power`."""
    if not math.isfinite(baseline):
        baseline = 0.5  # no data yet: the most demanding baseline
    target = baseline - mde if baseline + mde > 1 else baseline + mde
    effect = abs(proportion_effectsize(baseline, target))
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0,
                                     alternative="two-sided")
    return math.ceil(n)


def analyse(experiment: str, variants: list[VariantData], window: str = "",
            mde: float = DEFAULT_MDE, alpha: float = ALPHA) -> Report:
    control, others = variants[0], variants[1:]
    srm_p = srm_test([v.assigned for v in variants], [v.share for v in variants])
    srm = srm_p is not None and srm_p < SRM_ALPHA
    needed = min_sample_size(control.value("match_rate"), mde, alpha)
    comparisons: list[Comparison] = []
    for v in others:
        for metric, (kind, _) in METRICS.items():
            if kind == "proportion":
                p = two_proportions(control.proportion(metric), v.proportion(metric))
            else:
                p = welch(control.moments(metric), v.moments(metric))
            c_value, v_value = control.value(metric), v.value(metric)
            comparisons.append(Comparison(v.name, metric, c_value, v_value,
                                          v_value - c_value, p))
    tested = [c for c in comparisons if c.p_value is not None]
    if tested:
        rejected, adjusted, _, _ = multipletests([c.p_value for c in tested], alpha=alpha,
                                                 method="holm")
        for c, reject, p_adj in zip(tested, rejected, adjusted):
            c.p_adjusted = float(p_adj)
            c.significant = bool(reject)
            if c.significant:
                higher = c.difference > 0
                c.better = higher == (METRICS[c.metric][1] == "higher")
    report = Report(experiment=experiment, window=window, control=control.name,
                    variants=[_variant_row(v) for v in variants], srm_p_value=srm_p,
                    srm=srm, min_sample_size=needed, mde=mde, comparisons=comparisons,
                    alpha=alpha, forced=round(sum(v.forced for v in variants)),
                    cache_hits=round(sum(v.cached for v in variants)))
    report.verdict = verdict(report, variants)
    return report


def _variant_row(v: VariantData) -> dict:
    answered = v.answered
    return {"name": v.name, "share": v.share, "requests": round(v.assigned),
            "answered": round(answered), "cache_hits": round(v.cached),
            "forced": round(v.forced),
            **{metric: v.value(metric) for metric in METRICS},
            "mean_confidence_sd": v.moments("mean_confidence")[1],
            "tokens_per_request_sd": v.moments("tokens_per_request")[1],
            "cost_per_request_usd": v.cost_usd / answered if answered else math.nan,
            "latency_p50_s": v.latency_p50_s, "latency_p95_s": v.latency_p95_s}


def verdict(report: Report, variants: list[VariantData]) -> str:
    if report.srm:
        return (f"invalid: sample ratio mismatch (chi-square p = {report.srm_p_value:.2g} < "
                f"{SRM_ALPHA:g}): the split does not follow the weights; fix the assignment "
                "before reading any result")
    short = [v for v in variants if v.answered < report.min_sample_size]
    if short:
        have = ", ".join(f"{v.name} {round(v.answered)}" for v in short)
        return (f"no winner yet: each variant needs {report.min_sample_size} answered "
                f"requests to detect a {points(report.mde)} match-rate change (have {have})")
    lines = []
    winners = []
    for v in variants[1:]:
        mine = [c for c in report.comparisons if c.variant == v.name and c.significant]
        better = [METRIC_LABELS[c.metric] for c in mine if c.better]
        worse = [METRIC_LABELS[c.metric] for c in mine if not c.better]
        if better and not worse:
            winners.append(v.name)
            lines.append(f"{v.name} beats {report.control} on {', '.join(better)}")
        elif worse and not better:
            lines.append(f"{v.name} is worse than {report.control} on {', '.join(worse)}")
        elif better and worse:
            lines.append(f"{v.name} trades off: better on {', '.join(better)}, worse on "
                         f"{', '.join(worse)}")
    if not lines:
        return (f"no winner: no significant difference from {report.control} (Holm-adjusted "
                f"p >= {report.alpha:g} on every metric)")
    head = f"winner: {winners[0]}" if len(winners) == 1 else (
        "several variants beat the control" if winners else "no winner")
    return f"{head} ({'; '.join(lines)})"
