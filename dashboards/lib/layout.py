"""Assemble sections of sized panels into a dashboard: rows, grid positions, ids,
variables, and the links between the AI Assist dashboards."""

from __future__ import annotations

from dataclasses import dataclass

import attr
from grafanalib import core as G

from dashboards.lib import variables

TAG = "ai-assist"
GRID_WIDTH = 24
SCHEMA_VERSION = 41  # Grafana 12.1's (@grafana/schema 12.1.1): no migration runs on load


@dataclass(frozen=True)
class Section:
    title: str
    panels: tuple
    collapsed: bool = False


def section(title: str, *panels, collapsed: bool = False) -> Section:
    return Section(title, panels, collapsed)


def _place(panels, y: int) -> tuple[list, int]:
    """Flow panels left to right, wrapping at the grid width; returns the next free y."""
    placed, x, line_height = [], 0, 0
    for panel in panels:
        w, h = panel.gridPos.w, panel.gridPos.h
        if x + w > GRID_WIDTH:
            y, x, line_height = y + line_height, 0, 0
        placed.append(attr.evolve(panel, gridPos=G.GridPos(h=h, w=w, x=x, y=y)))
        x, line_height = x + w, max(line_height, h)
    return placed, y + line_height


def _layout(sections) -> list:
    out, y = [], 0
    for s in sections:
        row_pos = G.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)
        placed, end = _place(s.panels, y + 1)
        if s.collapsed:
            out.append(G.RowPanel(title=s.title, gridPos=row_pos, collapsed=True, panels=placed))
            y += 1
        else:
            out.append(G.RowPanel(title=s.title, gridPos=row_pos))
            out.extend(placed)
            y = end
    return out


def dashboard(uid: str, title: str, description: str, sections, *,
              with_model: bool = False) -> G.Dashboard:
    links = [{"asDropdown": False, "icon": "external link", "includeVars": True,
              "keepTime": True, "tags": [TAG], "targetBlank": False, "title": "AI Assist",
              "tooltip": "", "type": "dashboards"}]
    return G.Dashboard(
        uid=uid, title=title, description=description, tags=[TAG], timezone="utc",
        refresh="30s", time=G.Time("now-1h", "now"), graphTooltip=1, editable=True,
        schemaVersion=SCHEMA_VERSION, links=links,
        templating=G.Templating(list=variables.standard(with_model=with_model)),
        panels=_layout(sections),
    ).auto_panel_ids()
