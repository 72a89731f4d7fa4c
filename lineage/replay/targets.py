"""Replay targets: which owning system receives replays, how fast and above which amount a
second person must approve. Parsed and validated at start by the one config reader
(collector/config.py); errors are ``file, line N: problem``.

``LEDGERLINE_REPLAY_TARGETS`` is a path or the YAML itself. Header values never live in
the file: ``headers_env`` names environment variables, read (and required) at load time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from collector.config import Amount, Loc, Problem, Section, Text, YamlDoc, expect, name_of, read_yaml, validate
from collector.store.errors import ConfigError


class TargetsError(ConfigError):
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


def _name_of(loc: Loc) -> str:
    """How a message names the part of the targets file at ``loc``."""
    match loc:
        case ("targets", int()):
            return "target"
        case ("targets", int(), *rest):
            return ".".join(map(str, rest))
    return name_of(loc)


class TargetSpec(Section):
    """One target as written in the file (header values still to be read from the environment)."""

    system: Text
    url: Text
    headers_env: Annotated[dict[str, Text], expect(dict, "a mapping of header name to environment variable")] = Field(
        default_factory=dict
    )
    categories: Annotated[list[Text], expect(list, "a list")] | None = None
    max_per_minute: int = 60
    approval_over: Annotated[dict[str, Amount], expect(dict, "a mapping of currency to amount")] | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Problem("{what} must be an http(s) URL with a host, not {url!r}", url=url)
        return url

    @field_validator("max_per_minute", mode="before")
    @classmethod
    def _whole(cls, value: object) -> int:
        try:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError(value)
            number = int(value)
        except ValueError:
            raise Problem("{what} must be a whole number, not {value!r}", value=str(value)) from None
        if number < 1:
            raise Problem("{what} must be at least 1")
        return number


class TargetsFile(Section):
    """The whole file: a list of targets, one per system."""

    targets: list[TargetSpec]

    @field_validator("targets", mode="before")
    @classmethod
    def _listed(cls, targets: Any) -> Any:
        if not isinstance(targets, list):
            raise Problem("'targets' must be a list")
        return targets

    @model_validator(mode="after")
    def _one_per_system(self) -> TargetsFile:
        systems: set[str] = set()
        for i, target in enumerate(self.targets):
            if target.system in systems:
                raise Problem("duplicate target for system {system!r}", "targets", i, system=target.system)
            systems.add(target.system)
        return self


def _target(spec: TargetSpec, at: Loc, doc: YamlDoc, transient: frozenset[str], env: Mapping[str, str]) -> Target:
    headers: dict[str, str] = {}
    for header, var in spec.headers_env.items():
        if var not in env:
            raise doc.error((*at, "headers_env", header), f"environment variable {var} (header {header}) is not set")
        headers[header] = env[var]
    approval = spec.approval_over
    return Target(
        system=spec.system,
        url=spec.url,
        categories=frozenset(spec.categories) if spec.categories is not None else transient,
        max_per_minute=spec.max_per_minute,
        approval_over={currency.upper(): amount for currency, amount in approval.items()}
        if approval is not None
        else None,
        headers=headers,
    )


def parse_targets(text: str, source: str, transient: frozenset[str], env: Mapping[str, str] | None = None) -> Targets:
    """Parse and validate a targets document; TargetsError names the line and the problem."""
    env = os.environ if env is None else env
    doc = read_yaml(text, source, TargetsError)
    if doc.data is None:
        return Targets()
    spec = validate(TargetsFile, doc.data, doc, names=_name_of, unique=True)
    return Targets({t.system: _target(t, ("targets", i), doc, transient, env) for i, t in enumerate(spec.targets)})


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
