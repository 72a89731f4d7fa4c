"""Redaction at ingest: attribute rules applied to the parsed export request. Pure.

Rules (``LEDGERLINE_REDACT``: a file path or inline YAML)::

    rules:
      - {match: customer.email, action: hash}   # keyed HMAC-SHA-256 (LEDGERLINE_REDACT_KEY)
      - {match: "card.*", action: drop}
      - {match: customer.phone, action: mask}   # all but the last 4 characters become '*'

``match`` is a glob over attribute keys (``*``, ``?``, ``[...]``). Applied to resource,
span, event and link attributes of the parsed message before anything is stored; the
collector then stores the re-serialised message, so both decoders see the same redacted
data. Rules that could remove what lineage needs (``correlation.id``, ``correlation_id``,
``baggage``, anything under ``biz.``) are refused at start.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.errors import ConfigError

Action = Literal["drop", "hash", "mask"]
ACTIONS: tuple[str, ...] = ("drop", "hash", "mask")
PROTECTED_KEYS = ("correlation.id", "correlation_id", "baggage")
PROTECTED_PREFIX = "biz."
HASH_PREFIX = "hmac-sha256:"
_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Rule:
    """One pattern and what to do with the attributes it matches."""

    match: str
    action: Action

    def matches(self, key: str) -> bool:
        """True when ``key`` matches the glob."""
        return fnmatch.fnmatchcase(key, self.match)


def _protected(pattern: str) -> bool:
    """True when the glob could match a key lineage needs."""
    if any(fnmatch.fnmatchcase(key, pattern) for key in PROTECTED_KEYS):
        return True
    literal = _WILDCARD.split(pattern, 1)[0]  # the part before the first wildcard
    has_wildcard = literal != pattern
    if literal.startswith(PROTECTED_PREFIX):
        return True
    return has_wildcard and PROTECTED_PREFIX.startswith(literal)


@dataclass(frozen=True)
class Redactor:
    """Validated rules and the HMAC key; :meth:`apply` is the one redaction function."""

    rules: tuple[Rule, ...]
    key: bytes = b""

    def action(self, key: str) -> Action | None:
        """The first matching rule's action for an attribute key."""
        return next((r.action for r in self.rules if r.matches(key)), None)

    def _value(self, action: Action, value: AnyValue) -> AnyValue:
        raw = value.string_value.encode() if value.HasField("string_value") else value.SerializeToString()
        if action == "hash":
            return AnyValue(string_value=HASH_PREFIX + hmac.new(self.key, raw, hashlib.sha256).hexdigest())
        text = value.string_value if value.HasField("string_value") else ""
        keep = text[-4:] if len(text) >= 8 else ""
        return AnyValue(string_value="*" * (len(text) - len(keep) or 4) + keep)

    def _attributes(self, attributes: Any) -> int:
        changed = 0
        kept: list[KeyValue] = []
        for kv in attributes:
            action = self.action(kv.key)
            if action is None:
                kept.append(kv)
                continue
            changed += 1
            if action != "drop":
                kept.append(KeyValue(key=kv.key, value=self._value(action, kv.value)))
        if changed:
            del attributes[:]
            attributes.extend(kept)
        return changed

    def apply(self, request: ExportTraceServiceRequest) -> int:
        """Redact the request in place; return how many attributes were dropped or rewritten."""
        changed = 0
        for rs in request.resource_spans:
            changed += self._attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for span in ss.spans:
                    changed += self._attributes(span.attributes)
                    for event in span.events:
                        changed += self._attributes(event.attributes)
                    for link in span.links:
                        changed += self._attributes(link.attributes)
        return changed


def _fail(problem: str) -> ConfigError:
    return ConfigError(f"LEDGERLINE_REDACT: {problem}")


def _rules(doc: Any) -> Iterable[Rule]:
    if not isinstance(doc, dict) or set(doc) != {"rules"} or not isinstance(doc["rules"], list):
        raise _fail("expected a mapping with one key, 'rules', holding a list")
    for i, item in enumerate(doc["rules"], 1):
        if not isinstance(item, dict) or set(item) != {"match", "action"}:
            raise _fail(f"rule {i} must have exactly 'match' and 'action'")
        match, action = item["match"], item["action"]
        if not isinstance(match, str) or not match:
            raise _fail(f"rule {i}: 'match' must be a non-empty attribute key pattern")
        if action not in ACTIONS:
            raise _fail(f"rule {i}: action {action!r} is not one of {', '.join(ACTIONS)}")
        if _protected(match):
            raise _fail(
                f"rule {i} ({match!r}) could {action} correlation.id, correlation_id, baggage or biz.* "
                "attributes, which lineage needs; refused"
            )
        yield Rule(match, action)


def load_redactor(source: str | None, key: str | None) -> Redactor | None:
    """Parse and validate the rules (a path or inline YAML); None when none are configured."""
    if not source or not source.strip():
        return None
    text = source
    if "\n" not in source and not source.lstrip().startswith(("{", "rules")):
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise _fail(f"cannot read {source}: {exc.strerror}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(f"not valid YAML: {str(exc).splitlines()[0]}") from exc
    rules = tuple(_rules(doc))
    if any(r.action == "hash" for r in rules) and not key:
        raise _fail("a 'hash' rule needs LEDGERLINE_REDACT_KEY (the HMAC key)")
    return Redactor(rules, (key or "").encode())
