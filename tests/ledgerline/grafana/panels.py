"""Running the dashboards' panels against a store, as Grafana would query it (macros.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from collector.store import Store
from ledgerline.grafana.model import Dashboard, Panel, Variable
from tests.ledgerline.grafana.macros import ALL, Request, expand


def options_of(store: Store, variable: Variable, request: Request) -> list[str]:
    """The values a variable offers: its SQL's first column, or its fixed values."""
    if variable.kind == "query":
        return [str(row[0]) for row in store.query(expand(variable.query, request))]
    return [v.strip() for v in variable.query.split(",") if v.strip()]


def requests(store: Store, board: Dashboard, start: datetime, end: datetime, **picked: Any) -> Request:
    """A request with every multi variable at All (or as ``picked``) and its options resolved."""
    values: dict[str, Any] = {v.name: ALL if v.kind in ("query", "custom") else v.query for v in board.variables}
    values |= picked
    base = Request(start, end, 300, values, {})
    options = {v.name: options_of(store, v, base) for v in board.variables if v.kind in ("query", "custom")}
    return Request(start, end, 300, values, options)


def runs(panel: Panel, request: Request) -> Iterator[Request]:
    """The queries of one panel: one per value of its repeat variable (as Grafana repeats it)."""
    if not panel.repeat:
        yield request
        return
    chosen = request.values[panel.repeat]
    every = request.options[panel.repeat] if chosen == ALL else list(chosen)
    for value in every:
        yield Request(request.start, request.end, request.interval_s, {**request.values, panel.repeat: [value]}, {})


def run(store: Store, panel: Panel, request: Request) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The panel's columns and rows; AssertionError naming the panel when they do not fit."""
    sql = expand(panel.sql, request)
    try:
        # the columns and their types as ClickHouse plans them (an empty result has no names)
        described = [(str(r[0]), str(r[1])) for r in store.query(f"DESCRIBE TABLE ({sql})")]
        rows = store.query(sql)
    except Exception as exc:
        raise AssertionError(f"panel {panel.title!r}: {exc}") from exc
    check(panel, described, rows)
    return [name for name, _ in described], rows


_NUMBER = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal)")


def check(panel: Panel, described: Sequence[tuple[str, str]], rows: Sequence[tuple[Any, ...]]) -> None:
    """The columns are those the panel names; a time series has a time first (ascending), then
    label strings and numbers, as the data source turns long rows into series."""
    names = [name for name, _ in described]
    assert names == list(panel.columns), f"panel {panel.title!r} returns {names}, names {panel.columns}"
    if panel.format == "time_series":
        assert described[0][1].startswith("DateTime"), f"panel {panel.title!r}: {described[0]} is no time"
        kinds = [t for _, t in described[1:]]
        assert any(_NUMBER.match(t) for t in kinds), f"panel {panel.title!r}: no value column in {described}"
        assert all(_NUMBER.match(t) or "String" in t for t in kinds), f"panel {panel.title!r}: {described}"
    named = set(panel.units) | set(panel.names) | {link.column for link in panel.links}
    assert named <= set(names), f"panel {panel.title!r} refers to {sorted(named - set(names))}"
    for link in panel.links:
        for field in _link_fields(link.url):
            assert field in names, f"panel {panel.title!r}: link to unknown column {field}"
    if panel.format == "time_series":
        times = [row[0] for row in rows]
        assert all(isinstance(t, datetime) for t in times), f"panel {panel.title!r}: the first column is no time"
        assert times == sorted(times), f"panel {panel.title!r}: time not ascending"


def _link_fields(url: str) -> list[str]:
    return re.findall(r"\$\{__data\.fields\.(\w+)", url)
