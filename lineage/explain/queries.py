"""SQL of "why?": the units of a question (entity-steps or transactions) with their dimensions,
and their counts per dimension value, per bucket, and per pair of values, for the selection and
the baseline. Every fragment below is a constant; the values arrive as bound parameters.

A unit's dimensions are an array of (dimension, value) pairs, so one ARRAY JOIN counts every
dimension in one pass; attributes of the unit's latest span (resource attributes such as
``service.version``, and ``biz.*`` attributes beyond the standard ones) join from otel_traces by
span ID, and a dimension with more than ``max_values`` values in the scan is left out as
unbounded.
"""

from __future__ import annotations

from collections.abc import Collection

from lineage.core.scope import in_scope
from lineage.sql.amounts import LATEST_AMOUNT, LATEST_CURRENCY

_IN_SCOPE = in_scope()
ALL = "*"  # the dimension (and value) every unit carries: its row holds the totals
_FAILED = "Outcome NOT IN ('ok', 'compensated')"
_STANDARD_BIZ = (
    "['biz.flow', 'biz.entity.type', 'biz.entity.id', 'biz.parent.type', 'biz.parent.id', 'biz.step', "
    "'biz.system', 'biz.outcome', 'biz.error.category', 'biz.amount', 'biz.currency', "
    "'biz.idempotency_key', 'biz.region', 'biz.legal_entity', 'biz.compensates']"
)
_BAND = (
    "multiIf(amount IS NULL, '', amount < 100, '< 100', amount < 1000, '100 - 1k', amount < 10000, '1k - 10k', "
    "amount < 100000, '10k - 100k', '>= 100k')"
)

# Hops of the scan (the previous window too when it is the baseline), once each, in scope.
_HOPS = f"""
SELECT * FROM hops
WHERE StartTime >= fromUnixTimestamp64Milli({{lo_ms:Int64}})
    AND StartTime < fromUnixTimestamp64Milli({{hi_ms:Int64}} + {{lookahead_ms:Int64}})
    AND if(Flow = '', {{default_flow:String}}, toString(Flow)) = {{flow:String}}
    AND ({{system:String}} = '' OR toString(System) = {{system:String}}) AND {_IN_SCOPE}
LIMIT 1 BY TraceId, SpanId
"""

# Attributes of business spans in the scan, by span (dimensions named resource.* or attribute.*).
ATTRIBUTE_DIMENSIONS = ("resource.", "attribute.")
_ATTRS = """
SELECT TraceId AS tid, SpanId AS sid,
    arrayConcat(
        arrayMap(k -> (concat('resource.', k), ResourceAttributes[k]),
                 arrayFilter(k -> k NOT IN ('service.name'), mapKeys(ResourceAttributes))),
        arrayMap(k -> (concat('attribute.', k), SpanAttributes[k]),
                 arrayFilter(k -> startsWith(k, 'biz.') AND NOT has({standard}, k), mapKeys(SpanAttributes)))
    ) AS attrs
FROM otel_traces
WHERE Timestamp >= fromUnixTimestamp64Milli({lo_ms:Int64})
    AND Timestamp < fromUnixTimestamp64Milli({hi_ms:Int64} + {lookahead_ms:Int64})
    AND SpanAttributes['biz.entity.type'] != ''
LIMIT 1 BY TraceId, SpanId
""".replace("{standard}", _STANDARD_BIZ)

# The fixed dimensions of a unit, by name: the SQL of each value over the unit's columns.
_ENTITY_DIMS = {
    "system": "system",
    "region": "region",
    "legal_entity": "legal_entity",
    "step": "step",
    "error_category": "category",
    "currency": "currency",
    "amount_band": _BAND,
    "service": "service",
}
_TRANSACTION_DIMS = {d: sql for d, sql in _ENTITY_DIMS.items() if d != "error_category"}


def _fixed(columns: dict[str, str], dims: Collection[str] | None) -> str:
    """The array of (dimension, value) of the fixed dimensions named (None: all): ClickHouse
    computes only the latest-attempt values a query uses, so a pass needing few pays for few."""
    named = [f"('{d}', {sql})" for d, sql in columns.items() if dims is None or d in dims]
    return f"[{', '.join(named)}]" if named else "CAST([], 'Array(Tuple(String, String))')"


def _entity_steps(dims: Collection[str] | None = None) -> str:
    """One row per entity-step that started in the scan: failed when any attempt failed; its
    latest attempt's system, region, duration and span; its entity's amount."""
    return f"""
SELECT at_ms, subject_failed, dur_ms, amount, currency, tid, sid, step AS step_of,
    {_fixed(_ENTITY_DIMS, dims)} AS fixed
FROM (
    SELECT toUnixTimestamp64Milli(min(StartTime)) AS at_ms, countIf({_FAILED}) > 0 AS subject_failed,
        argMax(DurationNs, StartTime) / 1e6 AS dur_ms,
        {LATEST_AMOUNT} AS amount, {LATEST_CURRENCY} AS currency,
        toString(argMax(System, StartTime)) AS system, toString(argMax(Region, StartTime)) AS region,
        toString(argMax(LegalEntity, StartTime)) AS legal_entity, toString(Step) AS step,
        toString(argMaxIf(ErrorCategory, StartTime, {_FAILED})) AS category,
        toString(argMax(ServiceName, StartTime)) AS service,
        argMax(TraceId, StartTime) AS tid, argMax(SpanId, StartTime) AS sid
    FROM ({_HOPS})
    WHERE (empty({{steps:Array(String)}}) OR has({{steps:Array(String)}}, Step))
    GROUP BY EntityType, EntityId, Step
    HAVING at_ms < {{hi_ms:Int64}}
)
"""


def _transactions(dims: Collection[str] | None = None) -> str:
    """One row per transaction that started in the scan: its latest hop's system and step."""
    return f"""
SELECT at_ms, cid, 0 AS subject_failed, 0.0 AS dur_ms, amount, currency, tid, sid, step AS step_of,
    {_fixed(_TRANSACTION_DIMS, dims)} AS fixed
FROM (
    SELECT CorrelationId AS cid, toUnixTimestamp64Milli(min(StartTime)) AS at_ms,
        {LATEST_AMOUNT} AS amount, {LATEST_CURRENCY} AS currency,
        toString(argMax(System, StartTime)) AS system, toString(argMax(Region, StartTime)) AS region,
        toString(argMax(LegalEntity, StartTime)) AS legal_entity, toString(argMax(Step, StartTime)) AS step,
        toString(argMax(ServiceName, StartTime)) AS service,
        argMax(TraceId, StartTime) AS tid, argMax(SpanId, StartTime) AS sid
    FROM ({_HOPS})
    GROUP BY CorrelationId
    HAVING at_ms >= {{lo_ms:Int64}} AND at_ms < {{hi_ms:Int64}}
)
"""


# Is a unit the subject? (failed entity-step; at or over its step's threshold, the slowest tenth; listed)
SUBJECTS = {
    "failed": "subject_failed",
    "slow": "dur_ms >= transform(step_of, {t_steps:Array(String)}, {t_p90s:Array(Float64)}, inf)",
    "listed": "has({ids:Array(String)}, cid)",
}
# Selection and baseline of a unit, from ``cur`` (started in the asked window) and ``subj``.
BASELINES = {
    "rest": ("cur AND subj", "cur AND NOT subj"),
    "previous": ("cur AND subj", "NOT cur AND subj"),
}


def _units(kind: str, subject: str, baseline: str, attrs: bool = True, dims: Collection[str] | None = None) -> str:
    """The units with their dimensions; without ``attrs``, the fixed ones only (no join with
    ``otel_traces``: most of the pass's cost); with ``dims``, only those fixed ones."""
    sel, base = BASELINES[baseline]
    source = _transactions(dims) if kind == "transactions" else _entity_steps(dims)
    subj = SUBJECTS[subject]
    fixed = "arrayConcat(u.fixed, a.attrs)" if attrs else "u.fixed"
    join = f"LEFT JOIN ({_ATTRS}) AS a ON a.tid = u.tid AND a.sid = u.sid" if attrs else ""
    return f"""
SELECT at_ms, dur_ms, amount, currency, dims, cur, subj, sel, base, pick FROM (
    SELECT u.at_ms AS at_ms, u.dur_ms AS dur_ms, u.amount AS amount, u.currency AS currency,
        cityHash64(u.tid, u.sid) AS pick,
        arrayFilter(d -> d.2 != '', {fixed}) AS dims,
        u.at_ms >= {{cur_ms:Int64}} AS cur, ({subj}) AS subj, {sel} AS sel, {base} AS base
    FROM ({source}) AS u
    {join}
)
WHERE sel OR base OR cur
"""


SAMPLE = 300  # durations kept per dimension value (and units for the totals) for "slow"
# For "slow": bounded samples (SAMPLE each) of durations per value, in the asked window and in the
# previous one, and of (duration, dimensions) of the window's units for the totals' row (the rest
# of a value is that sample without the units carrying it). A sample is the SAMPLE units with the
# smallest hash of their span IDs: as good as random for the tests (the hash knows nothing of the
# duration) and the same whatever the order the threads aggregate in (a reservoir is not, so the
# same question could get other findings). Every grouping set keeps its samples (memory bounded by
# groups x SAMPLE); only part 3 returns them.
_SAMPLES = f"""
    arrayMap(x -> x.2, groupArraySortedIf({SAMPLE})((pick, dur_ms), cur)) AS durs_all,
    arrayMap(x -> x.2, groupArraySortedIf({SAMPLE})((pick, dur_ms), NOT cur)) AS durs_prev_all,
    arrayMap(x -> x.2, groupArraySortedIf({SAMPLE})((pick, (dur_ms, dims)), cur AND d.1 = '*')) AS units_all"""
_NO_SAMPLES = """
    [] AS durs_all, [] AS durs_prev_all, [] AS units_all"""


def grid(kind: str, subject: str, baseline: str) -> str:
    """Everything but the pairs in one pass, per dimension value (dimension ``*``, which every
    unit carries, holds the totals): per bucket of the asked window (-1: the previous window),
    units of the selection and of the baseline, and units of the subject and in all (the rate
    over time, and what changed at a change point); per currency, the selection's money (exact
    Decimal sums); for "slow", per value, bounded samples of durations (``_SAMPLES``). ``part``
    says which: 1 per bucket, 2 per currency, 3 the samples.
    Dimensions with more than ``max_values`` values are left out (unbounded)."""
    slow = subject == "slow"
    sets = "(dim, value, bucket), (dim, value, currency)" + (", (dim, value)" if slow else "")
    return f"""
SELECT dim, value, bucket, currency, part, sel_n, base_n, hits_n, all_n, money,
    if(part = 3, durs_all, []) AS durs, if(part = 3, durs_prev_all, []) AS durs_prev,
    if(part = 3, units_all, []) AS units_sample
FROM (
    SELECT *, uniqExact(value) OVER (PARTITION BY dim) AS values_n FROM (
        SELECT d.1 AS dim, d.2 AS value,
            if(cur, intDiv(at_ms - {{cur_ms:Int64}}, {{bucket_ms:Int64}}), -1) AS bucket, currency,
            grouping(bucket, currency) AS part,
            countIf(sel) AS sel_n, countIf(base) AS base_n, countIf(cur AND subj) AS hits_n, countIf(cur) AS all_n,
            sumIf(toDecimal128(ifNull(amount, 0), 4), sel AND amount IS NOT NULL) AS money,
            countIf(sel AND amount IS NOT NULL) AS priced,{_SAMPLES if slow else _NO_SAMPLES}
        FROM ({_units(kind, subject, baseline)}) ARRAY JOIN arrayPushFront(dims, ('*', '*')) AS d
        GROUP BY GROUPING SETS ({sets})
    )
)
WHERE values_n <= {{max_values:UInt32}} AND (part != 2 OR priced > 0)
ORDER BY dim, value, bucket
LIMIT {{limit:UInt32}}
SETTINGS group_by_use_nulls = 1
"""


def pairs(kind: str, subject: str, baseline: str, attrs: bool, dims: Collection[str] | None = None) -> str:
    """Per candidate pair of (dimension, value): units of the selection and of the baseline
    carrying both, and the selection's money per currency (``attrs``: some pair names an
    attribute dimension, so the units need them; ``dims``: the fixed dimensions the pairs name,
    the only ones computed, None: all)."""
    return f"""
SELECT p.1.1 AS dim_a, p.1.2 AS value_a, p.2.1 AS dim_b, p.2.2 AS value_b,
    countIf(sel) AS sel_n, countIf(base) AS base_n,
    sumMapIf([currency], [toDecimal128(ifNull(amount, 0), 4)], sel AND amount IS NOT NULL) AS money
FROM ({_units(kind, subject, baseline, attrs, dims)})
ARRAY JOIN arrayFilter(p -> has(dims, p.1) AND has(dims, p.2),
    {{pairs:Array(Tuple(Tuple(String, String), Tuple(String, String)))}}) AS p
GROUP BY dim_a, value_a, dim_b, value_b
"""


# The slowness threshold of each step: the 90th percentile of its entity-steps' latest
# attempt durations in the asked window (no dimension needed).
THRESHOLDS = f"""
SELECT step_of AS step, quantileExact(0.9)(dur_ms) AS p90
FROM ({_entity_steps(())})
WHERE at_ms >= {{cur_ms:Int64}}
GROUP BY step
"""
