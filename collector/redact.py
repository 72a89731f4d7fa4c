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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from collector.config import Loc, Problem, name_of, read_yaml, validate
from collector.store.errors import ConfigError

Action = Literal["drop", "hash", "mask"]
ACTIONS: tuple[str, ...] = ("drop", "hash", "mask")
PROTECTED_KEYS = ("correlation.id", "correlation_id", "baggage")
PROTECTED_PREFIX = "biz."
HASH_PREFIX = "hmac-sha256:"
_WILDCARD = re.compile(r"[*?\[]")


def _protected(pattern: str) -> bool:
    """True when the glob could match a key lineage needs."""
    if any(fnmatch.fnmatchcase(key, pattern) for key in PROTECTED_KEYS):
        return True
    literal = _WILDCARD.split(pattern, 1)[0]  # the part before the first wildcard
    has_wildcard = literal != pattern
    if literal.startswith(PROTECTED_PREFIX):
        return True
    return has_wildcard and PROTECTED_PREFIX.startswith(literal)


class Rule(BaseModel):
    """One pattern and what to do with the attributes it matches (a rule of the file)."""

    model_config = ConfigDict(frozen=True)

    match: str
    action: Action

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, item: Any) -> Any:
        if not isinstance(item, dict) or set(item) != {"match", "action"}:
            raise Problem("{what} must have exactly 'match' and 'action'")
        return item

    @field_validator("match", mode="before")
    @classmethod
    def _pattern(cls, match: Any) -> Any:
        if not isinstance(match, str) or not match:
            raise Problem("{what}: 'match' must be a non-empty attribute key pattern")
        return match

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, action: Any) -> Any:
        if action not in ACTIONS:
            raise Problem(
                "{what}: action {action!r} is not one of {actions}", action=action, actions=", ".join(ACTIONS)
            )
        return action

    @model_validator(mode="after")
    def _keeps_lineage(self) -> Rule:
        if _protected(self.match):
            raise Problem(
                "{what} ({match!r}) could {action} correlation.id, correlation_id, baggage or biz.* "
                "attributes, which lineage needs; refused",
                match=self.match,
                action=self.action,
            )
        return self

    def matches(self, key: str) -> bool:
        """True when ``key`` matches the glob."""
        return fnmatch.fnmatchcase(key, self.match)


class RedactionRules(BaseModel):
    """The whole file: ``{rules: [...]}``."""

    rules: tuple[Rule, ...]

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, doc: Any) -> Any:
        if not isinstance(doc, dict) or set(doc) != {"rules"} or not isinstance(doc["rules"], list):
            raise Problem("expected a mapping with one key, 'rules', holding a list")
        return doc


def _name_of(loc: Loc) -> str:
    """How a message names the part of the rules at ``loc``: ``rule N`` (from 1)."""
    match loc:
        case ("rules", int(index), *_):
            return f"rule {index + 1}"
    return name_of(loc)


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


def load_redactor(source: str | None, key: str | None) -> Redactor | None:
    """Parse and validate the rules (a path or inline YAML); None when none are configured.
    Errors are ``file, line N: problem`` (inline rules: ``LEDGERLINE_REDACT, line N: ...``)."""
    if not source or not source.strip():
        return None
    text, name = source, "LEDGERLINE_REDACT"
    if "\n" not in source and not source.lstrip().startswith(("{", "rules")):
        try:
            text, name = Path(source).read_text(), source
        except OSError as exc:
            raise ConfigError(f"LEDGERLINE_REDACT: cannot read {source}: {exc.strerror}") from exc
    doc = read_yaml(text, name)
    rules = validate(RedactionRules, doc.data, doc, names=_name_of).rules
    hashing = next((i for i, rule in enumerate(rules) if rule.action == "hash"), None)
    if hashing is not None and not key:
        raise doc.error(("rules", hashing), "a 'hash' rule needs LEDGERLINE_REDACT_KEY (the HMAC key)")
    return Redactor(rules, (key or "").encode())
