"""SQL of the Grafana panels (deploy/grafana), over the tables the lineage API reads.

Where a concept has one definition in lineage's SQL (posting latency, exceptions, stuck
transactions), the panel runs that very SQL with its bound parameters written in: the flows
file's values as typed literals, the time range and the filters as the data source's macros
and template variables (:func:`from_lineage`). A column renamed in lineage's SQL or in the
schema reaches the panels when the dashboards are generated again (``ledgerline grafana``);
tests/ledgerline/grafana runs every panel against a store the simulator filled.

Grafana expands a panel's SQL in three passes (grafana-clickhouse-datasource v4):
``$__conditionalAll(condition, $var)`` becomes ``1=1`` when ``$var`` is All (in the browser),
then template variables (``${var:sqlstring}``: each value quoted, quotes doubled), then the
back end's macros: ``$__timeFilter(col)``, ``$__timeInterval(col)``, ``$__fromTime_ms``,
``$__toTime_ms``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lineage.core import domain
from lineage.core.flows import FlowConfig
from lineage.core.scope import in_scope
from lineage.sql import amounts, facts_queries
from lineage.sql.exceptions import exceptions_cte
from lineage.sql.queries import postings_cte

VARIABLES = ("flow", "system", "region", "legal_entity")
_PLACEHOLDER = re.compile(r"\{(\w+):([^{}]+)\}")
_SCOPE_MARK = "\x00scope\x00"
LIMIT = 100_000  # rows a panel's inner listing may return (the panels show aggregates)


@dataclass(frozen=True)
class Sql:
    """Text written into a query as it is (a macro, a variable, an expression)."""

    text: str


def literal(value: object) -> str:
    """A ClickHouse literal for a string, a number, a bool or a (nested) list of them."""
    if isinstance(value, Sql):
        return value.text
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        # a space after "[": Grafana reads "[[name]]" as a variable
        return "[" + ", ".join(literal(v) for v in value) + " ]" if value else "[]"
    raise TypeError(f"no literal for {type(value).__name__}")


def condition(column: str, variable: str) -> str:
    """``column`` among the values of a multi-value variable; true when All is picked."""
    return f"$__conditionalAll({column} IN (${{{variable}:sqlstring}}), ${variable})"


# lineage's scope predicate (the API binds the caller's legal entities and regions) becomes
# the dashboard's legal entity and region variables; ClickHouse row policies enforce the scope.
SCOPE = f"({condition('LegalEntity', 'legal_entity')} AND {condition('Region', 'region')})"
FROM_MS = Sql("toUnixTimestamp64Milli($__fromTime_ms)")
TO_MS = Sql("toUnixTimestamp64Milli($__toTime_ms)")
# an instant bound as epoch ms and turned back into a time in lineage's SQL: the macro itself
_INSTANT = {FROM_MS: "$__fromTime_ms", TO_MS: "$__toTime_ms"}


def from_lineage(sql: str, values: Mapping[str, object]) -> str:
    """``sql`` from lineage with every bound parameter written in (typed as bound) and its scope
    predicate replaced by the dashboard's filters; KeyError naming a parameter left unbound."""
    text = sql.replace(in_scope(), _SCOPE_MARK)
    for name, value in values.items():
        if isinstance(value, Sql) and value in _INSTANT:
            text = text.replace(f"fromUnixTimestamp64Milli({{{name}:Int64}})", _INSTANT[value])

    def sub(match: re.Match[str]) -> str:
        name, type_ = match.group(1), match.group(2)
        if name not in values:
            raise KeyError(f"no Grafana value for the parameter {{{name}:{type_}}}")
        value = values[name]
        return value.text if isinstance(value, Sql) else f"CAST({literal(value)}, '{type_}')"

    return _PLACEHOLDER.sub(sub, text).replace(_SCOPE_MARK, SCOPE)


def _flow_of_hop(config: FlowConfig) -> str:
    return f"if(Flow = '', {literal(config.default_flow)}, toString(Flow))"


def _stage_keys(config: FlowConfig) -> tuple[list[str], list[str], list[str]]:
    """(flow|entity type|step keys, their stage names, every stage step) of the flows file."""
    keys, names, steps = [], [], set()
    for flow in sorted(config.flows.values(), key=lambda f: f.name):
        for stage in flow.stages:
            keys.append(f"{flow.name}|{stage.entity_type}|{stage.step}")
            names.append(stage.name)
            steps.add(stage.step)
    return keys, names, sorted(steps)


def _hop_filters(config: FlowConfig) -> str:
    keys, _, steps = _stage_keys(config)
    return f"""Step IN {literal(steps)} AND $__timeFilter(EndTime)
    AND concat(flow, '|', toString(EntityType), '|', toString(Step)) IN {literal(keys)}
    AND {condition("flow", "flow")} AND {condition("System", "system")} AND {SCOPE}"""


def throughput(config: FlowConfig) -> str:
    """Stages completed per interval and flow: one per entity and step (a retried success once),
    as ``GET /api/v1/metrics/throughput``."""
    return f"""SELECT $__timeInterval(EndTime) AS time, {_flow_of_hop(config)} AS flow,
    uniqExactIf(EntityType, EntityId, Step, Outcome = 'ok') AS completed
FROM hop_times
WHERE {_hop_filters(config)}
GROUP BY time, flow
ORDER BY time, flow"""


def failure_rate(config: FlowConfig) -> str:
    """Failed attempts over all attempts of the flow's stages per interval (a duplicated span
    once), the ``failure_rate`` KPI's rule (lineage/business/queries.py) over every stage."""
    return f"""SELECT $__timeInterval(EndTime) AS time, {_flow_of_hop(config)} AS flow,
    uniqExactIf(TraceId, SpanId, Outcome NOT IN ('ok', 'compensated')) / uniqExact(TraceId, SpanId) AS failure_rate
FROM hop_times
WHERE {_hop_filters(config)} AND Compensates = ''
GROUP BY time, flow
ORDER BY time, flow"""


def posting_latency(config: FlowConfig) -> str:
    """p50/p95/p99 of posting latency per interval for the ``$flow`` the panel repeats over:
    lineage's posting-latency CTE (the one definition) between that flow's steps."""
    names = sorted(config.flows)
    steps = [domain.posting_steps(config, n) for n in names]

    def pick(values: list[str]) -> Sql:
        return Sql(f"transform(${{flow:sqlstring}}, {literal(names)}, {literal(values)}, '')")

    cte = from_lineage(
        postings_cte(),
        {
            "from_step": pick([s[0] for s in steps]),
            "to_step": pick([s[1] for s in steps]),
            "since_ms": FROM_MS,
            "until_ms": TO_MS,
        },
    )
    return f"""{cte}
SELECT $__timeInterval(posted_at) AS time, quantileExact(0.5)(lat_ms) / 1000 AS p50_s,
    quantileExact(0.95)(lat_ms) / 1000 AS p95_s, quantileExact(0.99)(lat_ms) / 1000 AS p99_s
FROM (SELECT fromUnixTimestamp64Milli(end_ms) AS posted_at, lat_ms, system FROM lat)
WHERE {condition("system", "system")}
GROUP BY time
ORDER BY time"""


def _exceptions(config: FlowConfig) -> str:
    """lineage's exceptions CTE for failures in the time range, as of its end."""
    params = domain.exception_params(config, 0) | {"as_of_ms": TO_MS}
    return from_lineage(exceptions_cte("$__timeFilter(StartTime)", "$__fromTime_ms"), params)


def exceptions_opened(config: FlowConfig) -> str:
    """Exceptions per interval of their first failure, by their state at the range's end."""
    return f"""{_exceptions(config)}
SELECT $__timeInterval(first_seen) AS time, state, count() AS exceptions
FROM x
WHERE {condition("system", "system")}
GROUP BY time, state
ORDER BY time, state"""


def unresolved(config: FlowConfig) -> str:
    """Exceptions not resolved at the range's end, per system and category (the backlog)."""
    return f"""{_exceptions(config)}
SELECT system, if(category = '', 'uncategorised', category) AS category,
    countIf(state = 'open') AS open, countIf(state = 'acknowledged') AS acknowledged,
    min(first_seen) AS oldest
FROM x
WHERE state != 'resolved' AND {condition("system", "system")}
GROUP BY system, category
ORDER BY open + acknowledged DESC, system, category"""


def money_at_risk(config: FlowConfig) -> str:
    """Amounts of the open exceptions' entities per currency, as the ``open_exceptions`` part of
    ``GET /api/v1/at-risk``: lineage's one reading of an entity's amount (its latest hop that
    carries one, lineage/sql/amounts.py), by the open exceptions' correlation IDs."""
    open_ones = "FROM x WHERE state = 'open'"
    amount = from_lineage(
        amounts.ENTITY_AMOUNTS,
        {
            "ids": Sql(f"(SELECT correlation_id {open_ones})"),
            "ents": Sql(f"(SELECT entity_type, entity_id {open_ones})"),
            "limit": LIMIT,
        },
    )
    return f"""{_exceptions(config)}
SELECT if(a.currency = '', '(none)', a.currency) AS currency, round(sum(a.amount), 2) AS amount,
    count() AS exceptions
FROM x
LEFT JOIN ({amount}) AS a ON a.entity_type = x.entity_type AND a.entity_id = x.entity_id
WHERE x.state = 'open' AND {condition("x.system", "system")}
GROUP BY currency
ORDER BY amount DESC, currency"""


def _terminal(config: FlowConfig) -> str:
    """SQL form of lineage/core/derive.py ``is_terminal`` over an (outcome, category) tuple ``u``."""
    recoverable = (
        f"(has({literal(sorted(config.transient))}, u.2) OR "
        f"(NOT has({literal(sorted(config.business))}, u.2) AND {literal(config.unknown_is_transient)}))"
    )
    return f"u.1 = 'dead_letter' OR (u.1 = 'failed' AND NOT {recoverable})"


def stuck(config: FlowConfig) -> str:
    """Stuck transactions that started in the range, per flow and the system they wait at: the
    facts query of ``GET /api/v1/transactions?status=stuck`` (keep ``stuck``: not complete, the
    open stage or the end-to-end SLA overdue) less the failed ones (derive.py's order)."""
    lookahead_ms = int(max(max((f.end_to_end_sla_s or 0) for f in config.flows.values()), 86400) * 2000)
    facts = from_lineage(
        facts_queries.FACTS_IN_WINDOW_OPEN,
        domain.facts_params(config, "stuck")
        | {
            "since_ms": FROM_MS,
            "until_ms": TO_MS,
            "scan_until_ms": Sql(f"({TO_MS.text} + {lookahead_ms})"),
            "now_ms": TO_MS,
            "flow": "",
            "system": "",
            "region": "",
            "limit": LIMIT,
        },
    )
    return f"""SELECT flow_name AS flow, last_system AS waiting_at, count() AS stuck,
    min(fromUnixTimestamp64Milli(last_ms)) AS oldest_activity
FROM ({facts})
WHERE NOT arrayExists(u -> {_terminal(config)}, unresolved) AND {condition("flow_name", "flow")}
    AND {condition("last_system", "system")}
GROUP BY flow, waiting_at
ORDER BY stuck DESC, flow, waiting_at"""


# -- variables ------------------------------------------------------------------------------
def values_of(column: str) -> str:
    """A variable's values: the column's values in hop_times over the time range."""
    return f"""SELECT DISTINCT toString({column}) AS value
FROM hop_times
WHERE $__timeFilter(EndTime) AND {column} != ''
ORDER BY value
LIMIT 1000"""


# -- one transaction (Transaction lookup) ----------------------------------------------------
# The transactions of ``$key``: a correlation ID, or a business key "type:id" looked up in
# hop_keys (a primary-key seek either way).
_TXNS = """CorrelationId IN (
        SELECT ${key:sqlstring}
        UNION ALL
        SELECT CorrelationId FROM hop_keys
        WHERE KeyKind = 'entity' AND KeyType = splitByChar(':', ${key:sqlstring}, 2)[1]
            AND KeyId = arrayElement(splitByChar(':', ${key:sqlstring}, 2), 2)
    )"""


def transaction_hops() -> str:
    """Every hop of the transactions of ``$key``, oldest first (retries are rows of their own)."""
    return f"""SELECT CorrelationId AS correlation_id, toString(Flow) AS flow, toString(EntityType) AS entity_type,
    EntityId AS entity_id, toString(Step) AS step, toString(System) AS system, toString(Outcome) AS outcome,
    toString(ErrorCategory) AS error_category, Amount AS amount, toString(Currency) AS currency,
    StartTime AS started, EndTime AS ended, round(DurationNs / 1e6, 1) AS duration_ms,
    toString(LegalEntity) AS legal_entity, TraceId AS trace_id, SpanId AS span_id
FROM hops FINAL
WHERE {_TXNS}
ORDER BY StartTime, entity_type, entity_id
LIMIT 2000"""


def transaction_trail() -> str:
    """The audit trail of the exceptions of those transactions: acknowledgements, resolutions,
    replays and tickets, newest first."""
    return f"""SELECT a.At AS at, a.ExceptionId AS exception_id, toString(a.Action) AS action, a.Actor AS actor,
    a.Note AS note, concat(toString(a.EntityType), ':', a.EntityId) AS entity, toString(a.Step) AS step
FROM exception_actions AS a
WHERE (toString(a.EntityType), a.EntityId, toString(a.Step)) IN (
    SELECT toString(EntityType), EntityId, toString(Step) FROM hops WHERE {_TXNS})
ORDER BY at DESC
LIMIT 1000"""
