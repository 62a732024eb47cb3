"""Anomaly bands as recording rules, and an alert when a series rises above its band.

Only the upward side alerts: a latency or error rate that falls is no fault. The alert
also needs traffic and a minimum absolute rise, so a flat series whose tiny wobble makes
a narrow band does not page.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerting.model import Alert, Guidance, Recording
from alerting.threshold_alerts import alert_name as threshold_alert_name
from observability import bands
from observability import uids as links
from observability.durations import COMMITTED, Scale
from observability.sli import threshold_window, traffic_guard
from observability.thresholds import BY_KEY, Threshold
from observability.units import value_template, words


@dataclass(frozen=True)
class Band:
    key: str  # a Threshold key with a 5m recording rule
    min_rise: float  # above the band's mean, in the SLI's unit
    causes: tuple[str, ...]
    for_: str = "5m"

    @property
    def row(self) -> Threshold:
        return BY_KEY[self.key]

    @property
    def series(self) -> str:
        return self.row.record

    def record(self, part: str) -> str:
        return bands.record(self.series, part)

    @property
    def alert_name(self) -> str:
        core = threshold_alert_name(self.row).removeprefix("AIAssist")
        return f"AIAssist{core.removesuffix('High').removesuffix('Low')}Anomaly"


BANDS = (
    Band("latency_p95", 5.0,
         ("A change in Gemini's latency or in the share of retried calls.",
          "A new deploy, model or prompt.",
          "A traffic pattern the service has not seen (longer passages, bursts).")),
    Band("error_rate", 0.02,
         ("A dependency starts failing (Gemini, the embedding model, ChromaDB).",
          "A new deploy.",
          "A client sending requests that fail.")),
)


def recordings(scale: Scale = COMMITTED) -> list[Recording]:
    rules = []
    history = scale(bands.HISTORY)
    for band in BANDS:
        mean, spread = bands.mean_and_spread(f"{band.series}[{history}]", scale(bands.GAP))
        # Until Prometheus holds GAP + a little history, the band is the value itself.
        rules += [
            Recording(band.record("mean"), f"{mean}\nor {band.series}"),
            Recording(band.record("spread"), f"{spread}\nor {band.series} * 0"),
            Recording(band.record("upper"), f"{band.record('mean')} + {band.record('spread')}"),
            Recording(band.record("lower"),
                      f"clamp_min({band.record('mean')} - {band.record('spread')}, 0)"),
        ]
    return rules


def anomaly_alert(band: Band, scale: Scale = COMMITTED) -> Alert:
    row = band.row
    expr = (f"{band.series} > {band.record('upper')}\n"
            f"and {band.series} - {band.record('mean')} > {band.min_rise:g}\n"
            f"{traffic_guard(row.min_request_rate)}")
    return Alert(
        name=band.alert_name, severity="warning", expr=expr, for_=scale(band.for_),
        summary=f"{row.title} is unusually high for this service",
        description=(f"{row.title} is {value_template(row.unit)} over the last "
                     f"{threshold_window(row, scale)}, above its usual band "
                     f"({bands.describe()}) and more than {words(band.min_rise, row.unit)} "
                     f"above its mean."),
        dashboard=links.REALTIME,
        fires_when=(f"{row.title} above its band and more than "
                    f"{words(band.min_rise, row.unit)} above the band's mean, for "
                    f"{scale(band.for_)}, with at least {row.min_request_rate * 60:g} "
                    f"answered requests/min"))


def alerts(scale: Scale = COMMITTED) -> list[Alert]:
    return [anomaly_alert(band, scale) for band in BANDS]


def guidance() -> dict[str, Guidance]:
    out = {}
    for band in BANDS:
        threshold = threshold_alert_name(band.row)
        out[band.alert_name] = Guidance(
            meaning=(f"{band.row.title} left its usual range: it is above the band "
                     f"({bands.describe()}) by more than {words(band.min_rise, band.row.unit)}."
                     f" It may still be under the fixed thresholds: this alert catches a "
                     f"change early, before [{threshold}](#{threshold.lower()}) would. A "
                     f"new level that lasts widens the band and the alert resolves; "
                     f"the band follows the history, so it is a warning, never a page."),
            causes=band.causes,
            actions=(f"Open the Real-time dashboard: the band is the shaded area around "
                     f"{band.row.title}; see when the series left it.",
                     "Line the moment up with deploys, Gemini incidents and traffic "
                     "changes (*Throughput by status*).",
                     f"Follow the [{threshold}](#{threshold.lower()}) entry for the causes "
                     f"by stage."))
    return out
