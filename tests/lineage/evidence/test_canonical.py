"""The canonical hop encoding: ClickHouse and Python produce the same bytes for any hop."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.store import Store
from lineage.evidence import canonical, merkle

_IDS = itertools.count()
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_NS = st.integers(min_value=-2_208_988_800 * 10**9, max_value=2**63 - 1)

_INSERT = (
    "INSERT INTO hops (" + ", ".join(canonical.NAMES) + ") VALUES (" + ", ".join(
        f"fromUnixTimestamp64Nano({{{n}:Int64}})" if k == "time"
        else f"{{{n}:Array(String)}}" if k == "strs"
        else f"{{{n}:Nullable(Float64)}}" if k == "f64?"
        else f"{{{n}:UInt64}}" if k == "u64"
        else f"{{{n}:String}}"
        for n, k in canonical.FIELDS
    ) + ")"
)  # fmt: skip


def _strategy(kind: str) -> Any:
    return {
        "str": _TEXT,
        "strs": st.lists(_TEXT, max_size=4),
        "time": _NS,
        "u64": st.integers(min_value=0, max_value=2**64 - 1),
        "f64?": st.none() | st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0, 1e308, -5e-324]),
    }[kind]


HOPS = st.fixed_dictionaries({name: _strategy(kind) for name, kind in canonical.FIELDS})


@pytest.fixture
def bare_store(evidence_store: Store) -> Store:
    """The test store; hops written directly (not through the views' source)."""
    return evidence_store


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hop=HOPS)
def test_sql_and_python_agree_on_every_hop(bare_store: Store, hop: dict[str, Any]) -> None:
    # Links are (trace, span) pairs: the two arrays have one length.
    hop = dict(hop, SpanId=f"span-{next(_IDS)}", LinkSpanIds=[t[::-1] for t in hop["LinkTraceIds"]])
    bare_store.command(_INSERT, hop)
    where = "WHERE SpanId = {span:String}"
    (record,) = bare_store.query_dicts(f"SELECT {canonical.RECORD_SQL} FROM hops {where}", {"span": hop["SpanId"]})
    ((sql_hash,),) = bare_store.query(f"SELECT {canonical.LEAF_HASH_SQL} FROM hops {where}", {"span": hop["SpanId"]})
    assert record == hop  # the record round-trips exactly (times in ns, floats bit for bit)
    assert merkle.leaf_hash(canonical.encode(hop)) == bytes(sql_hash)


def test_every_field_changes_the_leaf() -> None:
    base: dict[str, Any] = dict.fromkeys(canonical.NAMES, "") | {
        "ParentIds": [], "LinkTraceIds": [], "LinkSpanIds": [], "Amount": None,
        "StartTime": 0, "EndTime": 0, "DurationNs": 0,
    }  # fmt: skip
    seen = {canonical.encode(base)}
    for name, kind in canonical.FIELDS:
        other = {"str": "x", "strs": ["x"], "time": 1, "u64": 1, "f64?": 0.0}[kind]
        seen.add(canonical.encode(base | {name: other}))
    assert len(seen) == len(canonical.FIELDS) + 1
    # Length prefixes keep neighbouring fields apart.
    split = canonical.encode(base | {"EntityType": "a", "EntityId": "b"})
    assert canonical.encode(base | {"EntityType": "ab"}) != split
    assert canonical.encode(base | {"ParentIds": ["a", "b"]}) != canonical.encode(base | {"ParentIds": ["ab"]})


def test_malformed_records_are_refused() -> None:
    with pytest.raises(canonical.RecordError, match="lacks"):
        canonical.encode({"CorrelationId": "x"})
    base: dict[str, Any] = dict.fromkeys(canonical.NAMES, "") | {
        "ParentIds": [], "LinkTraceIds": [], "LinkSpanIds": [], "Amount": None,
        "StartTime": 0, "EndTime": 0, "DurationNs": 0,
    }  # fmt: skip
    for field, value in (("StartTime", "0"), ("DurationNs", -1), ("Amount", "1"), ("ParentIds", "a"), ("Step", 1)):
        with pytest.raises(canonical.RecordError, match=field):
            canonical.encode(base | {field: value})
