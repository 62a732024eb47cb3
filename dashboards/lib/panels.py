"""Panel factories: a panel is a title, a description, a unit and its targets.

Every factory sets the templated datasource on the panel and on each target, gives
targets their refIds, and sizes the panel; layout.py places it.
"""

from __future__ import annotations

from string import ascii_uppercase

import attr
from grafanalib import core as G

from dashboards.lib.variables import INSTANCE, LOKI, PROMETHEUS
from observability.promql import RATE, zero_when_absent
from observability.thresholds import Threshold
from observability.units import words

BASE_STEPS = [{"color": "green", "value": None}]


# --- targets -----------------------------------------------------------------------
@attr.s
class PromTarget:
    expr = attr.ib()
    legendFormat = attr.ib(default="")
    instant = attr.ib(default=False)
    format = attr.ib(default="time_series")
    exemplar = attr.ib(default=False)  # histogram exemplars carry the request's trace_id
    refId = attr.ib(default="")

    def to_json_data(self):
        return {"datasource": PROMETHEUS, "editorMode": "code", "exemplar": self.exemplar,
                "expr": self.expr, "format": self.format, "instant": self.instant,
                "legendFormat": self.legendFormat, "range": not self.instant,
                "refId": self.refId}


@attr.s
class LokiTarget:
    expr = attr.ib()
    legendFormat = attr.ib(default="")
    refId = attr.ib(default="")

    def to_json_data(self):
        return {"datasource": LOKI, "editorMode": "code", "expr": self.expr,
                "legendFormat": self.legendFormat, "queryType": "range",
                "refId": self.refId}


def prom(expr: str, legend: str = "", instant: bool = False, table: bool = False,
         exemplar: bool = False) -> PromTarget:
    return PromTarget(expr, legend, instant or table, "table" if table else "time_series",
                      exemplar)


def loki(expr: str, legend: str = "") -> LokiTarget:
    return LokiTarget(expr, legend)


def _ref(targets) -> list:
    return [attr.evolve(t, refId=ascii_uppercase[i]) for i, t in enumerate(targets)]


def _size(width: int, height: int) -> G.GridPos:
    return G.GridPos(h=height, w=width, x=0, y=0)


# --- thresholds and value mappings -------------------------------------------------
def threshold_steps(row: Threshold) -> list[dict]:
    """Green meets the goal, yellow misses it, orange at warning, red at critical."""
    if row.higher_is_worse:
        return [{"color": "green", "value": None}, {"color": "yellow", "value": row.goal},
                {"color": "orange", "value": row.warning}, {"color": "red", "value": row.critical}]
    return [{"color": "red", "value": None}, {"color": "orange", "value": row.critical},
            {"color": "yellow", "value": row.warning}, {"color": "green", "value": row.goal}]


def threshold_targets(row: Threshold) -> str:
    worse, better = (">", "<") if row.higher_is_worse else ("<", ">")
    text = (f"Goal {better} {words(row.goal, row.unit)}; "
            f"warning {worse} {words(row.warning, row.unit)}; "
            f"critical {worse} {words(row.critical, row.unit)}.")
    if row.fixed_window:
        text += f" Fixed {row.fixed_window} window: ignores the time picker."
    return text


def threshold_description(row: Threshold) -> str:
    return f"{row.description} {threshold_targets(row)}"


def value_text(value: float, text: str, color: str) -> dict:
    return {"type": "value", "options": {f"{value:g}": {"text": text, "color": color}}}


def range_text(low: float, high: float, text: str, color: str) -> dict:
    return {"type": "range",
            "options": {"from": low, "to": high, "result": {"text": text, "color": color}}}


def _indexed(mappings) -> list[dict]:
    """Grafana orders mappings by `index`; give each result its position."""
    out = []
    for index, mapping in enumerate(mappings):
        mapping = {**mapping, "options": dict(mapping["options"])}
        if mapping["type"] == "range":
            mapping["options"]["result"] = {**mapping["options"]["result"], "index": index}
        else:
            mapping["options"] = {k: {**v, "index": index} for k, v in mapping["options"].items()}
        out.append(mapping)
    return out


# --- panels ------------------------------------------------------------------------
def stat(title: str, description: str, unit: str, targets, *, steps=None, mappings=(),
         width: int = 4, height: int = 4, reduce: str = "lastNotNull", graph: bool = True,
         decimals: int | None = None, text_mode: str = "auto") -> G.Stat:
    return G.Stat(
        title=title, description=description, dataSource=PROMETHEUS, targets=_ref(targets),
        format=unit, thresholds=steps or BASE_STEPS, mappings=_indexed(mappings),
        reduceCalc=reduce, graphMode="area" if graph else "none", colorMode="value",
        decimals=decimals, textMode=text_mode, noValue=None, color={"mode": "thresholds"},
        gridPos=_size(width, height),
    )


def threshold_stat(row: Threshold, m: str = INSTANCE, w: str = RATE, *, width: int = 4,
                   height: int = 4) -> G.Stat:
    """The plan's row as a stat: its SLI, unit, and goal / warning / critical colours."""
    return stat(row.title, threshold_description(row), row.unit,
                [prom(zero_when_absent(row.expr(w, m)), row.title)],
                steps=threshold_steps(row), width=width, height=height)


def timeseries(title: str, description: str, unit: str, targets, *, width: int = 12,
               height: int = 8, stacked: bool = False, steps=None, show_steps: bool = False,
               overrides=(), min_value: int | None = None, max_value: int | None = None,
               legend_calcs=("mean", "max"), max_data_points: int | None = None
               ) -> G.TimeSeries:
    return G.TimeSeries(
        title=title, description=description, dataSource=PROMETHEUS, targets=_ref(targets),
        unit=unit, thresholds=steps or BASE_STEPS,
        thresholdsStyleMode="dashed" if show_steps else "off",
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none"},
        fillOpacity=30 if stacked else 10, lineWidth=2 if not stacked else 1,
        legendDisplayMode="table", legendPlacement="bottom", legendCalcs=list(legend_calcs),
        tooltipMode="multi", tooltipSort="desc", overrides=list(overrides),
        valueMin=min_value, valueMax=max_value, gridPos=_size(width, height),
        maxDataPoints=max_data_points,  # None: Grafana's default, one point per pixel
    )


def band_overrides(upper: str, lower: str) -> list[dict]:
    """Draw the anomaly band as a shaded area between its two series."""
    style = [{"id": "custom.lineWidth", "value": 0},
             {"id": "color", "value": {"fixedColor": "blue", "mode": "fixed"}},
             {"id": "custom.hideFrom", "value": {"legend": False, "tooltip": False, "viz": False}}]
    return [
        {"matcher": {"id": "byName", "options": upper},
         "properties": [*style, {"id": "custom.fillBelowTo", "value": lower},
                        {"id": "custom.fillOpacity", "value": 15}]},
        {"matcher": {"id": "byName", "options": lower}, "properties": style},
    ]


@attr.s
class BarGauge(G.Panel):
    """grafanalib's BarGauge writes Grafana 6 options; this one writes the current ones."""

    unit = attr.ib(default="none")
    minValue = attr.ib(default=None)
    maxValue = attr.ib(default=None)
    reduceCalc = attr.ib(default="lastNotNull")
    mappings = attr.ib(factory=list)

    def to_json_data(self):
        return self.panel_json({
            "fieldConfig": {"defaults": {"color": {"mode": "thresholds"}, "mappings": self.mappings,
                                         "max": self.maxValue, "min": self.minValue,
                                         "unit": self.unit},
                            "overrides": []},
            "options": {"displayMode": "gradient", "orientation": "horizontal",
                        "reduceOptions": {"calcs": [self.reduceCalc], "fields": "",
                                          "values": False},
                        "showUnfilled": True},
            "type": "bargauge",
        })


def bar_gauge(title: str, description: str, unit: str, targets, *, width: int = 12,
              height: int = 8, min_value=None, max_value=None, steps=None) -> BarGauge:
    return BarGauge(title=title, description=description, dataSource=PROMETHEUS,
                    targets=_ref(targets), unit=unit, minValue=min_value, maxValue=max_value,
                    thresholds=steps or BASE_STEPS, gridPos=_size(width, height))


@attr.s
class Table(G.Panel):
    """grafanalib's Table writes the deprecated `custom.displayMode` and the old table
    panel's keys (columns, fontSize, ...); this one writes Grafana 12's: cellOptions."""

    unit = attr.ib(default="none")

    def to_json_data(self):
        return self.panel_json({
            "fieldConfig": {"defaults": {"custom": {"align": "auto",
                                                    "cellOptions": {"type": "auto"},
                                                    "filterable": False, "inspect": False},
                                         "unit": self.unit},
                            "overrides": []},
            "options": {"cellHeight": "sm", "showHeader": True},
            "type": "table",
        })


def when_empty(panel, text: str):
    """`panel` showing `text` instead of Grafana's "No data" when its queries return
    nothing because a feature is off (fieldConfig.defaults.noValue)."""
    extra = getattr(panel, "extraJson", None) or {}
    return attr.evolve(panel, extraJson={**extra, "fieldConfig": {"defaults": {
        "noValue": text}}})


def table(title: str, description: str, targets, *, width: int = 12, height: int = 6,
          hide=("Time", "Value")) -> Table:
    organize = {"id": "organize",
                "options": {"excludeByName": {name: True for name in hide}, "indexByName": {},
                            "renameByName": {}}}
    return Table(title=title, description=description, dataSource=PROMETHEUS,
                 targets=_ref(targets), unit="none", thresholds=BASE_STEPS,
                 transformations=[organize], gridPos=_size(width, height))


def loki_logs(title: str, description: str, expr: str, *, width: int = 24,
              height: int = 10) -> G.Logs:
    return G.Logs(title=title, description=description, dataSource=LOKI,
                  targets=_ref([loki(expr)]), showTime=True, wrapLogMessages=True,
                  enableLogDetails=True, prettifyLogMessage=False, thresholds=BASE_STEPS,
                  gridPos=_size(width, height),
                  extraJson={"fieldConfig": {"defaults": {"unit": "none"}}})


def loki_timeseries(title: str, description: str, unit: str, targets, **kwargs) -> G.TimeSeries:
    panel = timeseries(title, description, unit, targets, **kwargs)
    return attr.evolve(panel, dataSource=LOKI)
