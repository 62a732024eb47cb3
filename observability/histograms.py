"""Histogram quantiles read from recorded bucket rates: what every quantile panel and
quantile rule reads instead of the raw buckets.

A quantile over the raw buckets re-reads every bucket of every label set of every
replica over its window at each step of a panel: at 100 replicas a 24 h range of the
response-time, stage and by-variant quantiles took 1.1-2.8 s
(docs/operations/at-scale.md). The rules record each histogram's bucket and count rates
over WINDOW once per evaluation, summed per deployment (the rules' group), replica
(`instance`: the dashboards' instance variable still filters them), `le` and the labels
some panel keeps apart (`keep`), and drop the rest: the job (every series is the job's)
and the request histogram's status, which no quantile tells apart. A quantile of a sum
of rates is the same number whether the sum runs over raw series or over these partial
sums, so a panel keeps its meaning; its window becomes the recording's (a fixed 5
minutes, said in its description) instead of the time picker's `$__rate_interval`.

Recorded series carry no exemplars: a panel that links to traces keeps the raw bucket
selector in a term that reads no samples (`exemplars`), for Grafana's exemplar query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ai_assist.telemetry import metrics as M
from observability.durations import COMMITTED, Scale, seconds
from observability.promql import Scope, aggregate, guarded_quantile, scope_of, sel, sum_rate
from observability.selectors import RULES, SELECTORS

WINDOW = "5m"
# What a panel with such a quantile says (tests/unit/test_dashboards_static.py checks it).
DESCRIBED = f"Fixed {WINDOW} window (recorded bucket rates): ignores the time picker."
# The most points such a panel asks for: over a day, one a recorded window (the windows
# tile the day; Grafana's one point per pixel would read each window three times more,
# and a 24 h range at 100 replicas then missed its second: docs/operations/at-scale.md);
# over an hour the scrape interval still bounds the step; past a day, points are
# further apart than the window, as with any panel of a recorded short window.
POINTS = 86400 // int(seconds(WINDOW))
_MATCHER = re.compile(r'[A-Za-z_]\w*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class RecordedHistogram:
    metric: str  # the catalogue's histogram
    keep: tuple[str, ...] = ()  # labels kept apart besides the group, instance and le

    def record(self, part: str) -> str:
        """level:metric:operations of the `bucket` or `count` rates."""
        return f"ai_assist:{self.metric}_{part}:rate{WINDOW}"

    def recordings(self, scale: Scale = COMMITTED) -> list[tuple[str, str]]:
        by = ", ".join(("instance", *self.keep))
        return [(self.record("bucket"),
                 sum_rate(f"{self.metric}_bucket", scale(WINDOW), "", RULES, by=f"{by}, le")),
                (self.record("count"),
                 sum_rate(f"{self.metric}_count", scale(WINDOW), "", RULES, by=by))]


REQUESTS = RecordedHistogram(M.REQUEST_DURATION, ("variant",))
STAGES = RecordedHistogram(M.STAGE_DURATION, ("stage",))
SIMILARITY = RecordedHistogram(M.VECTOR_SIMILARITY)
BATCH_SIZE = RecordedHistogram(M.EMBEDDING_BATCH_SIZE)
HISTOGRAMS = (REQUESTS, STAGES, SIMILARITY, BATCH_SIZE)


def _without_job(matchers: str) -> str:
    return ", ".join(p for p in _MATCHER.findall(matchers) if p != SELECTORS.job_matcher)


def recorded(m: str | Scope) -> str | Scope:
    """The selection `m` of raw series, on the recordings (which keep no job label)."""
    if isinstance(m, Scope):
        return Scope(_without_job(m.matchers), m.by)
    return _without_job(m)


def quantile(q: float, histogram: RecordedHistogram, matchers: str = "",
             m: str | Scope = "", by: str = "", exemplars: bool = False) -> str:
    """The q-quantile of `histogram` over the recorded window, per `by` group (and per
    group of a Scope); 0, not NaN, where nothing was observed. `matchers` and `by` may
    only name labels the recording keeps."""
    for label in re.findall(r"(\w+)\s*[=!]", matchers) + [b.strip() for b in by.split(",")]:
        assert not label or label in histogram.keep, f"{histogram.metric} keeps no {label}"
    r = recorded(m)
    groups = scope_of(r).grouping(by)
    buckets = aggregate("sum", sel(histogram.record("bucket"), matchers, r), r,
                        by=f"le, {by}" if by else "le")
    count = aggregate("sum", sel(histogram.record("count"), matchers, r), r, by)
    expr = guarded_quantile(q, buckets, count, groups)
    return f"{exemplar_term(histogram, matchers, m)} or {expr}" if exemplars else expr


def exemplar_term(histogram: RecordedHistogram, matchers: str, m: str | Scope) -> str:
    """The raw buckets at time 0 (`@ 0`): no sample, so the panel's values are the
    recorded quantile's, but Grafana's exemplar query (/api/v1/query_exemplars reads
    every selector of the expression) still finds the requests' trace ids on them."""
    return f"({sel(f'{histogram.metric}_bucket', matchers, m)} @ 0)"
