"""Configuration files and settings errors, reported as one line an operator can act on.

Every YAML configuration (alert rules, receivers, replay targets, redaction rules, ...) is
read with :func:`read_yaml`, which keeps the line of every mapping key and list item, and
validated with :func:`validate`, which turns the first pydantic error into
``file, line N: field: problem``. Settings read from the environment fail the same way via
:func:`settings_error`. All of these raise :class:`ConfigError`; the CLI prints the one line
and exits 2, before anything listens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from collector.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


@dataclass
class YamlDoc:
    """A parsed YAML document, its source name and the line of every key and item."""

    data: Any
    source: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc`` or of its nearest enclosing key or item."""
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(self, loc: Loc, problem: str) -> ConfigError:
        """A ConfigError naming the file, the line of ``loc`` and the problem."""
        line = self.line_of(loc)
        where = f"{self.source}, line {line}" if line else self.source
        field_name = ".".join(str(p) for p in loc)
        return ConfigError(f"{where}: {field_name}: {problem}" if field_name else f"{where}: {problem}")


def _index(node: Node, path: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                child = (*path, key.value)
                lines[child] = key.start_mark.line + 1
                _index(value, child, lines)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), lines)


def source_text(value: str | Path, what: str) -> tuple[str, str]:
    """(text, source name) of a setting that is a file path or inline YAML."""
    text = str(value)
    inline = "\n" in text or text.lstrip().startswith(("{", "[")) or ": " in text
    if inline:
        return text, f"{what} (inline)"
    try:
        return Path(text).read_text(encoding="utf-8"), text
    except OSError as exc:
        raise ConfigError(f"{text}: cannot read the {what}: {exc.strerror or exc}") from None


def read_yaml(text: str, source: str) -> YamlDoc:
    """Parse YAML, keeping lines; a syntax error is a ConfigError naming its line."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    lines: dict[Loc, int] = {}
    if root is not None:
        _index(root, (), lines)
    return YamlDoc(data, source, lines)


def validate(model: type[M], data: Any, doc: YamlDoc, at: Loc = ()) -> M:
    """``model`` validated from ``data`` (found at ``at`` in ``doc``); the first error as one line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise doc.error((*at, *first["loc"]), first["msg"]) from None


def settings_error(exc: ValidationError, prefix: str = "LEDGERLINE_") -> ConfigError:
    """A settings ValidationError as one line naming the environment variable."""
    first = exc.errors()[0]
    name = f"{prefix}{str(first['loc'][0]).upper()}" if first["loc"] else exc.title
    value = first.get("input")
    got = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    more = f"; and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
    return ConfigError(f"{name}: {first['msg']}{got}{more}")
