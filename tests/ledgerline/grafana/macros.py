"""Grafana's expansion of a ClickHouse panel's SQL, done the way the data source does it
(grafana-clickhouse-datasource v4), so the panels run here without a Grafana server:

1. ``$__conditionalAll(condition, $var)`` (front end, ``CHDatasource.applyConditionalAll``):
   from the last occurrence backwards, the arguments split at commas outside parentheses,
   replaced by ``1=1`` when the variable's value is ``$__all`` or empty, else by the condition;
2. template variables (``templateSrv.replace``): ``$var``, ``${var}`` and ``${var:format}``;
   a multi value (All expands to every option) without a format becomes ``'a','b'``, with
   ``:sqlstring`` each value is quoted with its quotes doubled; unknown names stay as they are;
3. the back end's macros (``pkg/macros/macros.go``): ``$__timeFilter(col)`` ->
   ``col >= toDateTime(from) AND col <= toDateTime(to)``, ``$__timeInterval(col)`` ->
   ``toStartOfInterval(toDateTime(col), INTERVAL n second)``, ``$__fromTime``/``$__toTime``
   (``toDateTime(s)``), their ``_ms`` forms (``fromUnixTimestamp64Milli(ms)``), ``$__interval_s``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

ALL = "$__all"
Value = str | Sequence[str]


@dataclass(frozen=True)
class Request:
    """One panel query: the time range, the interval Grafana picked and the variables."""

    start: datetime
    end: datetime
    interval_s: int = 300
    values: Mapping[str, Value] = field(default_factory=dict)  # name -> value, [values] or ALL
    options: Mapping[str, Sequence[str]] = field(default_factory=dict)  # every option of a multi variable


def _macro_args(text: str, open_at: int) -> tuple[list[str], int] | None:
    """The arguments of a macro whose "(" is at ``open_at``, and the index after its ")"."""
    depth, args, start = 0, [], open_at + 1
    for i in range(open_at, len(text)):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 1:
            args.append(text[start:i])
            start = i + 1
        if depth == 0:
            args.append(text[start:i])
            return args, i + 1
    return None


def conditional_all(sql: str, values: Mapping[str, Value]) -> str:
    """Step 1: ``$__conditionalAll``."""
    macro = "$__conditionalAll("
    at = sql.rfind(macro)
    while at != -1:
        parsed = _macro_args(sql, at + len(macro) - 1)
        if parsed is None or len(parsed[0]) != 2:
            return sql
        (cond, var), end = parsed
        name = re.search(r"(?<=\$\{)\w+(?=\})|(?<=\$)\w+", var.strip())
        phrase = cond
        if name:
            value = values.get(name.group(0), "")
            text = ",".join(value) if isinstance(value, list | tuple) else str(value)
            if text in ("", ALL):
                phrase = "1=1"
        sql = sql.replace(sql[at:end], phrase, 1)
        at = sql.rfind(macro)
    return sql


_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}")


def interpolate(sql: str, values: Mapping[str, Value], options: Mapping[str, Sequence[str]]) -> str:
    """Step 2: template variables."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(5) or ""
        if name not in values:
            return match.group(0)
        value = values[name]
        if value == ALL or (isinstance(value, list | tuple) and list(value) == [ALL]):
            value = list(options[name])
        if fmt == "sqlstring":
            items = list(value) if isinstance(value, list | tuple) else [str(value)]
            return ",".join("'" + v.replace("'", "''") + "'" for v in items)
        if fmt == "percentencode":
            raise AssertionError("percentencode only in data links")
        if isinstance(value, list | tuple):
            return "'" + "','".join(value) + "'"
        return str(value)

    return _VARIABLE.sub(sub, sql)


def backend_macros(sql: str, start: datetime, end: datetime, interval_s: int) -> str:
    """Step 3: the data source's back-end macros."""
    from_s, to_s = int(start.timestamp()), int(end.timestamp())
    from_ms, to_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    seconds = max(interval_s, 1)
    table = {
        "fromTime": lambda a: f"toDateTime({from_s})",
        "toTime": lambda a: f"toDateTime({to_s})",
        "fromTime_ms": lambda a: f"fromUnixTimestamp64Milli({from_ms})",
        "toTime_ms": lambda a: f"fromUnixTimestamp64Milli({to_ms})",
        "timeFilter": lambda a: f"{a[0]} >= toDateTime({from_s}) AND {a[0]} <= toDateTime({to_s})",
        "timeFilter_ms": lambda a: (
            f"{a[0]} >= fromUnixTimestamp64Milli({from_ms}) AND {a[0]} <= fromUnixTimestamp64Milli({to_ms})"
        ),
        "timeInterval": lambda a: f"toStartOfInterval(toDateTime({a[0]}), INTERVAL {seconds} second)",
        "interval_s": lambda a: str(seconds),
    }
    for name, render in table.items():
        pattern = re.compile(rf"\$__{name}\b")
        match = pattern.search(sql)
        while match:
            args: list[str] = []
            end_at = match.end()
            if sql.startswith("(", end_at):
                parsed = _macro_args(sql, end_at)
                if parsed is None:
                    raise ValueError(f"$__{name}: missing close bracket")
                args, end_at = [a.strip() for a in parsed[0]], parsed[1]
            if name in ("timeFilter", "timeFilter_ms", "timeInterval") and len(args) != 1:
                raise ValueError(f"$__{name}: expected 1 argument, received {len(args)}")
            sql = sql[: match.start()] + render(args) + sql[end_at:]
            match = pattern.search(sql, match.start())
    return sql


def expand(sql: str, request: Request) -> str:
    """The SQL Grafana sends to ClickHouse for ``request``; ValueError when something is left."""
    out = conditional_all(sql, request.values)
    out = interpolate(out, request.values, request.options)
    out = backend_macros(out, request.start, request.end, request.interval_s)
    left = re.findall(r"\$\{?\w+", out)
    if left:
        raise ValueError(f"not expanded: {sorted(set(left))}")
    return out
