"""Grafana dashboard JSON from small typed pieces: variables, panels with their SQL and the
columns they name. Pure; ledgerline/grafana/dashboards.py composes the dashboards.

The shapes are Grafana's dashboard model (``schemaVersion`` 39, Grafana 10 and 11) and the
ClickHouse data source's query model (``editorType: sql``, ``format`` 0 time series or 1
table, as sqlds reads it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "ledgerline-clickhouse"
DATASOURCE = {"type": PLUGIN, "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
Format = Literal["time_series", "table"]
_FORMAT = {"time_series": 0, "table": 1}
_QUERY_TYPE = {"time_series": "timeseries", "table": "table"}


@dataclass(frozen=True)
class Variable:
    """A dashboard variable: ``query`` (SQL over the data source), ``custom`` (fixed values),
    ``textbox`` or ``constant`` (hidden)."""

    name: str
    label: str
    kind: Literal["query", "custom", "textbox", "constant"]
    query: str = ""  # SQL (query), comma-separated values (custom), default (textbox, constant)
    multi: bool = True

    def json(self) -> dict[str, Any]:
        """The variable's entry in ``templating.list``."""
        out: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.kind, "query": self.query}
        if self.kind in ("query", "custom"):
            every = {"selected": True, "text": ["All"], "value": ["$__all"]}
            out |= {"multi": self.multi, "includeAll": True, "current": every, "hide": 0}
        if self.kind == "query":
            out |= {"datasource": DATASOURCE, "definition": self.query, "refresh": 2, "sort": 1, "options": []}
        elif self.kind == "custom":
            values = [v.strip() for v in self.query.split(",")]
            out["options"] = [{"selected": False, "text": v, "value": v} for v in values]
        elif self.kind == "textbox":
            out |= {"current": {"text": self.query, "value": self.query}, "hide": 0}
        else:
            out |= {"current": {"text": self.query, "value": self.query}, "hide": 2}
        return out


@dataclass(frozen=True)
class Link:
    """A data link on one column of a table: ``url`` may use ``${__data.fields.<column>}``."""

    column: str
    title: str
    url: str


@dataclass(frozen=True)
class Panel:
    """One panel with one SQL target. ``columns`` are the names its SQL returns, in order:
    units, display names and links refer to them, and the tests hold the SQL to them."""

    title: str
    kind: Literal["timeseries", "table", "stat", "barchart"]
    sql: str
    format: Format
    columns: tuple[str, ...]
    description: str = ""
    width: int = 12
    height: int = 8
    units: dict[str, str] = field(default_factory=dict)  # column -> Grafana unit
    names: dict[str, str] = field(default_factory=dict)  # column -> display name
    links: tuple[Link, ...] = ()
    repeat: str = ""  # a variable: one panel per selected value

    def json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        """The panel's JSON at grid position (x, y)."""
        overrides = []
        for column in self.columns:
            props: list[dict[str, Any]] = []
            if column in self.units:
                props.append({"id": "unit", "value": self.units[column]})
            if column in self.names:
                props.append({"id": "displayName", "value": self.names[column]})
            links = [{"title": link.title, "url": link.url} for link in self.links if link.column == column]
            if links:
                props.append({"id": "links", "value": links})
            if props:
                overrides.append({"matcher": {"id": "byName", "options": column}, "properties": props})
        out: dict[str, Any] = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "datasource": DATASOURCE,
            "targets": [
                {
                    "refId": "A",
                    "datasource": DATASOURCE,
                    "editorType": "sql",
                    "format": _FORMAT[self.format],
                    "queryType": _QUERY_TYPE[self.format],
                    "rawSql": self.sql,
                }
            ],
            "fieldConfig": {"defaults": {}, "overrides": overrides},
            "options": {},
        }
        if self.repeat:
            out |= {"repeat": self.repeat, "repeatDirection": "h", "maxPerRow": 3}
        return out


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: variables and panels laid out left to right, top to bottom."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]
    time_from: str = "now-24h"
    refresh: str = "1m"

    def json(self) -> dict[str, Any]:
        """The dashboard as Grafana imports or provisions it."""
        panels, x, y, row_h = [], 0, 0, 0
        for i, panel in enumerate(self.panels, start=1):
            if x + panel.width > 24:
                x, y, row_h = 0, y + row_h, 0
            panels.append(panel.json(i, x, y))
            x, row_h = x + panel.width, max(row_h, panel.height)
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["ledgerline"],
            "timezone": "utc",
            "editable": True,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": self.time_from, "to": "now"},
            "refresh": self.refresh,
            "templating": {"list": [v.json() for v in self.variables]},
            "annotations": {"list": []},
            "links": [],
            "panels": panels,
        }
