"""The canonical encoding of a hop: the bytes a Merkle leaf commits to. Pure.

One field list drives both sides: :func:`encode` builds the bytes in Python (the offline
verifier) and :data:`LEAF_SQL` builds the same bytes inside ClickHouse (sealing, store
verification), so the rule is written once. Layout (docs/evidence.md)::

    0x01 (encoding version) || field_1 || ... || field_n, in FIELDS order, where
    str      u32 LE byte length || UTF-8 bytes
    strs     u32 LE count || each element as str
    time     i64 LE nanoseconds since the epoch
    u64      u64 LE
    f64?     0x00 || 8 zero bytes (NULL), or 0x01 || IEEE-754 binary64 LE
"""

from __future__ import annotations

import struct
from typing import Any, Literal

from lineage.evidence.errors import RecordError

# Hop fields of a transaction document that this encoding does not seal yet (compensation
# links, issue 17): an evidence pack leaves them out, and the offline verifier refuses a pack
# that carries them, so a pack never shows what its seals do not prove.
UNSEALED_HOP_FIELDS = ("compensates", "compensated_by")

Kind = Literal["str", "strs", "time", "u64", "f64?"]
VERSION = 1

# Every stored column of a hop except IngestedAt (when it arrived is not what happened).
FIELDS: tuple[tuple[str, Kind], ...] = (
    ("CorrelationId", "str"),
    ("TraceId", "str"),
    ("SpanId", "str"),
    ("ParentSpanId", "str"),
    ("Flow", "str"),
    ("EntityType", "str"),
    ("EntityId", "str"),
    ("ParentType", "str"),
    ("ParentIds", "strs"),
    ("Step", "str"),
    ("System", "str"),
    ("Outcome", "str"),
    ("ErrorCategory", "str"),
    ("Amount", "f64?"),
    ("Currency", "str"),
    ("IdempotencyKey", "str"),
    ("Region", "str"),
    ("LegalEntity", "str"),
    ("StartTime", "time"),
    ("EndTime", "time"),
    ("DurationNs", "u64"),
    ("ServiceName", "str"),
    ("SpanName", "str"),
    ("StatusCode", "str"),
    ("StatusMessage", "str"),
    ("LinkTraceIds", "strs"),
    ("LinkSpanIds", "strs"),
)
NAMES = tuple(name for name, _ in FIELDS)


def _str(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise RecordError(f"{name} must be a string")
    data = value.encode("utf-8")
    return struct.pack("<I", len(data)) + data


def _field(name: str, kind: Kind, value: Any) -> bytes:
    if kind == "str":
        return _str(value, name)
    if kind == "strs":
        if not isinstance(value, list):
            raise RecordError(f"{name} must be a list of strings")
        return struct.pack("<I", len(value)) + b"".join(_str(v, name) for v in value)
    if kind in ("time", "u64"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise RecordError(f"{name} must be an integer")
        try:
            return struct.pack("<q" if kind == "time" else "<Q", value)
        except struct.error as exc:
            raise RecordError(f"{name} is out of range") from exc
    if value is None:
        return b"\x00" * 9
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RecordError(f"{name} must be a number or null")
    return b"\x01" + struct.pack("<d", float(value))


def encode(record: dict[str, Any]) -> bytes:
    """The canonical bytes of one hop record (keys: :data:`NAMES`)."""
    missing = [n for n in NAMES if n not in record]
    if missing:
        raise RecordError(f"record lacks {', '.join(missing)}")
    return bytes([VERSION]) + b"".join(_field(name, kind, record[name]) for name, kind in FIELDS)


# -- the same bytes in ClickHouse -------------------------------------------------------------
def _len(expr: str) -> str:
    return f"reinterpretAsFixedString(toUInt32(length({expr})))"


def _sql(name: str, kind: Kind) -> str:
    col = f"`{name}`"
    if kind == "str":
        return f"{_len(col)}, toString({col})"
    if kind == "strs":
        return f"{_len(col)}, arrayStringConcat(arrayMap(x -> concat({_len('x')}, x), {col}))"
    if kind == "time":
        return f"reinterpretAsFixedString(toUnixTimestamp64Nano({col}))"
    if kind == "u64":
        return f"reinterpretAsFixedString(toUInt64({col}))"
    present = f"concat(unhex('01'), reinterpretAsFixedString(assumeNotNull({col})))"
    return f"if(isNull({col}), unhex('000000000000000000'), {present})"


LEAF_SQL = f"concat(unhex('{VERSION:02x}'), " + ", ".join(_sql(n, k) for n, k in FIELDS) + ")"
# RFC 9162 leaf hash: SHA-256(0x00 || leaf).
LEAF_HASH_SQL = f"SHA256(concat(unhex('00'), {LEAF_SQL}))"
# The record as the pack carries it: times as integer nanoseconds, strings as strings.
RECORD_SQL = ", ".join(
    f"toUnixTimestamp64Nano(`{n}`) AS `{n}`" if k == "time" else f"toString(`{n}`) AS `{n}`" if k == "str" else f"`{n}`"
    for n, k in FIELDS
)
