"""Replay targets: which owning system receives replays, how fast and above which amount a
second person must approve. Parsed and validated at start; errors name the file and line.

``LEDGERLINE_REPLAY_TARGETS`` is a path or the YAML itself. Header values never live in
the file: ``headers_env`` names environment variables, read (and required) at load time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from lineage.core.flows import FlowConfigError, _fail, _mapping, _strings, _text

_TARGET_KEYS = {"system", "url", "headers_env", "categories", "max_per_minute", "approval_over"}


class TargetsError(FlowConfigError):
    """The targets file cannot be used; the message is ``file, line N: problem``."""


@dataclass(frozen=True)
class Target:
    """One owning system that accepts replay requests."""

    system: str
    url: str
    categories: frozenset[str]
    max_per_minute: int = 60
    # Currency -> amount above which a second person must approve; None: always approve.
    approval_over: Mapping[str, float] | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # values from the environment

    def needs_approval(self, amount: float | None, currency: str) -> bool:
        """Four-eyes rule: no thresholds, an unknown amount or an unlisted currency need approval."""
        if self.approval_over is None or amount is None:
            return True
        limit = self.approval_over.get(currency.upper())
        return limit is None or amount > limit


@dataclass(frozen=True)
class Targets:
    """Every target, by system."""

    by_system: Mapping[str, Target] = field(default_factory=dict)

    def get(self, system: str) -> Target | None:
        """The target of ``system``, if any."""
        return self.by_system.get(system)


def _int(node: Node, source: str, what: str, low: int) -> int:
    text = _text(node, source, what)
    try:
        value = int(text)
    except ValueError:
        raise _fail(node, source, f"{what} must be a whole number, not {text!r}") from None
    if value < low:
        raise _fail(node, source, f"{what} must be at least {low}")
    return value


def _url(node: Node, source: str) -> str:
    url = _text(node, source, "url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(node, source, f"url must be an http(s) URL with a host, not {url!r}")
    return url


def _headers(node: Node, source: str, env: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(node, MappingNode):
        raise _fail(node, source, "headers_env must be a mapping of header name to environment variable")
    out: dict[str, str] = {}
    for key, var_node in node.value:
        header = _text(key, source, "a header name")
        var = _text(var_node, source, f"headers_env.{header}")
        if var not in env:
            raise _fail(var_node, source, f"environment variable {var} (header {header}) is not set")
        out[header] = env[var]
    return out


def _thresholds(node: Node, source: str) -> dict[str, float]:
    if not isinstance(node, MappingNode):
        raise _fail(node, source, "approval_over must be a mapping of currency to amount")
    out: dict[str, float] = {}
    for key, value in node.value:
        currency = _text(key, source, "a currency").upper()
        try:
            amount = float(_text(value, source, f"approval_over.{currency}"))
        except ValueError:
            raise _fail(value, source, f"approval_over.{currency} must be a number") from None
        if amount < 0:
            raise _fail(value, source, f"approval_over.{currency} must not be negative")
        out[currency] = amount
    return out


def _target(node: Node, source: str, transient: frozenset[str], env: Mapping[str, str]) -> Target:
    keys = _mapping(node, source, "a target", _TARGET_KEYS)
    for needed in ("system", "url"):
        if needed not in keys:
            raise _fail(node, source, f"target is missing {needed!r}")
    categories = _strings(keys["categories"], source, "categories") if "categories" in keys else transient
    return Target(
        system=_text(keys["system"], source, "system"),
        url=_url(keys["url"], source),
        categories=categories,
        max_per_minute=_int(keys["max_per_minute"], source, "max_per_minute", 1) if "max_per_minute" in keys else 60,
        approval_over=_thresholds(keys["approval_over"], source) if "approval_over" in keys else None,
        headers=_headers(keys["headers_env"], source, env) if "headers_env" in keys else {},
    )


def parse_targets(text: str, source: str, transient: frozenset[str], env: Mapping[str, str] | None = None) -> Targets:
    """Parse and validate a targets document; TargetsError names the line and the problem."""
    env = os.environ if env is None else env
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise TargetsError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        return Targets()
    try:
        keys = _mapping(root, source, "the document", {"targets"})
        items = keys.get("targets")
        if items is None or not isinstance(items, SequenceNode):
            raise _fail(root if items is None else items, source, "'targets' must be a list")
        by_system: dict[str, Target] = {}
        for item in items.value:
            target = _target(item, source, transient, env)
            if target.system in by_system:
                raise _fail(item, source, f"duplicate target for system {target.system!r}")
            by_system[target.system] = target
    except TargetsError:
        raise
    except FlowConfigError as exc:
        raise TargetsError(str(exc)) from None
    return Targets(by_system)


def load_targets(value: str | None, transient: frozenset[str], env: Mapping[str, str] | None = None) -> Targets:
    """Targets from ``LEDGERLINE_REPLAY_TARGETS``: inline YAML (has a newline or starts with
    ``targets``/``{``) or a path; None or empty: no targets (every replay is refused)."""
    if not value or not value.strip():
        return Targets()
    inline = "\n" in value or value.lstrip().startswith(("targets", "{"))
    if inline:
        return parse_targets(value, "LEDGERLINE_REPLAY_TARGETS", transient, env)
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TargetsError(f"{path}: cannot read the replay targets file: {exc.strerror}") from None
    return parse_targets(text, str(path), transient, env)
