"""Configuration files and settings errors, reported as one line an operator can act on.

This is the one YAML reader: every configuration file (alert rules, receivers, flows, replay
targets, redaction rules, ...) is read with :func:`read_yaml`, which keeps the line of every
mapping key and list item, and validated with :func:`validate`, which turns the first pydantic
error into ``file, line N: problem``. A file's own wording comes from :class:`Problem`,
raised by its models' validators; :class:`Section` and the scalar types below give every file
the same words for the common mistakes. Settings read from the environment fail the same way
via :func:`settings_error`. All of these raise :class:`ConfigError`; the CLI prints the one
line and exits 2, before anything listens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from collector.store.errors import ConfigError, LedgerlineError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]
Names = Callable[[Loc], str]


@dataclass
class YamlDoc:
    """A parsed YAML document, its source name, the line of every key and item, and the
    keys given twice in one mapping (the later one; the data keeps its value)."""

    data: Any
    source: str
    lines: dict[Loc, int] = field(default_factory=dict)
    duplicates: list[Loc] = field(default_factory=list)
    error_type: type[ConfigError] = ConfigError

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc`` or of its nearest enclosing key or item."""
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(self, loc: Loc, problem: str) -> ConfigError:
        """An error (of ``error_type``) naming the file, the line of ``loc`` and the problem."""
        line = self.line_of(loc)
        where = f"{self.source}, line {line}" if line else self.source
        return self.error_type(f"{where}: {problem}")


def _index(node: Node, path: Loc, doc: YamlDoc) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                child = (*path, key.value)
                if key.value in seen:
                    doc.duplicates.append(child)
                seen.add(key.value)
                doc.lines[child] = key.start_mark.line + 1
                _index(value, child, doc)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), doc)


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


def read_yaml(text: str, source: str, error: type[ConfigError] = ConfigError) -> YamlDoc:
    """Parse YAML, keeping lines; a syntax error names its line. Errors about this document
    (here, in :func:`validate` and from :meth:`YamlDoc.error`) are of type ``error``."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise error(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    doc = YamlDoc(data, source, error_type=error)
    if root is not None:
        _index(root, (), doc)
    return doc


class Problem(LedgerlineError, ValueError):
    """What is wrong, in a file's own words, raised by a validator for :func:`validate`.

    ``{what}`` in ``text`` becomes the name of the part that raised it (see ``names``);
    ``values`` fill its other fields, so input is never read as a format; ``at`` (keys or
    indexes below that part) moves the line to the key or item at fault.
    """

    def __init__(self, text: str, *at: str | int, **values: object) -> None:
        super().__init__(text)
        self.text, self.at, self.values = text, at, values

    def words(self, what: str) -> str:
        """The problem, naming the part at fault ``what``."""
        return self.text.format(what=what, **self.values)


def name_of(loc: Loc) -> str:
    """The default name of the part at ``loc``: its key (a list item: the list's), or "the document"."""
    keys = [p for p in loc if isinstance(p, str)]
    return keys[-1] if keys else "the document"


def validate(
    model: type[M], data: Any, doc: YamlDoc, at: Loc = (), *, names: Names = name_of, unique: bool = False
) -> M:
    """``model`` validated from ``data`` (found at ``at`` in ``doc``); the first error as one line.

    A :class:`Problem` is reported in its own words, ``names`` naming the part that raised it;
    any other error as ``field: pydantic's message``. ``unique``: a key given twice in one
    mapping is refused first.
    """
    if unique:
        twice = next((d for d in doc.duplicates if d[: len(at)] == at), None)
        if twice is not None:
            raise doc.error(twice, f"duplicate key {twice[-1]!r} in {names(twice[:-1])}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = (*at, *first["loc"])
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, Problem):
            raise doc.error((*loc, *cause.at), cause.words(names(loc))) from None
        field_name = ".".join(str(p) for p in loc)
        raise doc.error(loc, f"{field_name}: {first['msg']}" if field_name else first["msg"]) from None


class Section(BaseModel):
    """A mapping of a configuration file. Before any value is looked at: not a mapping, an
    unknown key (naming the allowed ones), a missing key and a key without a value are
    Problems, in these words in every file."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def allowed_keys(cls, data: dict[Any, Any]) -> dict[str, bool]:
        """The keys ``data`` may have, each with whether it must; by default the fields'."""
        return {f.alias or name: f.is_required() for name, f in cls.model_fields.items()}

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise Problem("{what} must be a mapping")
        keys = cls.allowed_keys(data)
        for key in data:
            if key not in keys:
                allowed = ", ".join(sorted(keys))
                raise Problem("unknown key {key!r} in {what} (allowed: {allowed})", str(key), key=key, allowed=allowed)
        missing = next((key for key, required in keys.items() if required and key not in data), None)
        if missing is not None:
            raise Problem("{what} is missing {key!r}", key=missing)
        empty = next((key for key, value in data.items() if value is None), None)
        if empty is not None:  # `key:` alone is not "unset": leave an optional key out instead
            raise Problem("{key} has no value", str(empty), key=empty)
        return data


def _text(value: object) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    raise Problem("{what} must be a non-empty string")


def _amount(value: object) -> float:
    text = _text(value)
    try:
        amount = float(text)
    except ValueError:
        raise Problem("{what} must be a number") from None
    if amount < 0:
        raise Problem("{what} must not be negative")
    return amount


Text = Annotated[str, BeforeValidator(_text)]
"""A non-empty string, stripped (a number is read as text)."""
Amount = Annotated[float, BeforeValidator(_amount)]
"""A number, not negative."""


def expect(kind: type[list[Any]] | type[dict[Any, Any]], words: str) -> BeforeValidator:
    """A field's container check: anything else is ``{what} must be <words>``."""

    def check(value: object) -> object:
        if not isinstance(value, kind):
            raise Problem("{what} must be " + words)
        return value

    return BeforeValidator(check)


def settings_error(exc: ValidationError, prefix: str = "LEDGERLINE_") -> ConfigError:
    """A settings ValidationError as one line naming the environment variable."""
    first = exc.errors()[0]
    name = f"{prefix}{str(first['loc'][0]).upper()}" if first["loc"] else exc.title
    value = first.get("input")
    got = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    more = f"; and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
    return ConfigError(f"{name}: {first['msg']}{got}{more}")
