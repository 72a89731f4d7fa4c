"""The one YAML reader: Sections and Problems give every file the same one-line
``file, line N: problem``, on the line of the key or item at fault."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, model_validator

from collector.config import Loc, Problem, Section, Text, name_of, read_yaml, validate
from collector.store.errors import ConfigError


class Item(Section):
    name: Text
    size: int = 1


class Doc(Section):
    items: list[Item] = Field(default_factory=list)
    title: Text = "untitled"

    @model_validator(mode="after")
    def _distinct(self) -> Doc:
        names = [item.name for item in self.items]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise Problem("{what} names {name!r} twice", "items", i, name=name)
        return self


def _names(loc: Loc) -> str:
    return "an item" if len(loc) == 2 and loc[0] == "items" else name_of(loc)


class FileError(ConfigError):
    """A file's own error type."""


def _error(text: str, unique: bool = False) -> str:
    doc = read_yaml(text, "f.yaml", FileError)
    with pytest.raises(FileError) as info:
        validate(Doc, doc.data, doc, names=_names, unique=unique)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "items:\n  - name: a\n    colour: red\n",
            "f.yaml, line 3: unknown key 'colour' in an item (allowed: name, size)",
        ),
        ("title: t\nitems:\n  - {size: 2}\n", "f.yaml, line 3: an item is missing 'name'"),
        ("items:\n  - name: a\n  - 3\n", "f.yaml, line 3: an item must be a mapping"),
        ("items:\n  - name: ''\n", "f.yaml, line 2: name must be a non-empty string"),
        ("items:\n  - size: 2\n    name:\n", "f.yaml, line 3: name has no value"),
        ("items:\n  - name: a\n  - name: b\n  - name: a\n", "f.yaml, line 4: the document names 'a' twice"),
        (
            "items:\n  - name: a\n    size: big\n",
            "f.yaml, line 3: items.0.size: Input should be a valid integer, unable to parse string as an integer",
        ),
        ("[1]\n", "f.yaml, line 1: the document must be a mapping"),
    ],
)
def test_first_problem_names_the_line_of_the_key_or_item(text: str, message: str) -> None:
    assert _error(text) == message


def test_duplicate_keys_are_refused_when_asked() -> None:
    text = "title: a\nitems:\n  - name: a\n    name: b\n"
    assert _error(text, unique=True) == "f.yaml, line 4: duplicate key 'name' in an item"
    doc = read_yaml(text, "f.yaml")
    assert validate(Doc, doc.data, doc).items[0].name == "b"  # not asked: the later value, as YAML loads it


def test_syntax_errors_and_problems_outside_a_section() -> None:
    with pytest.raises(FileError, match=r"^f\.yaml, line 2: not valid YAML: "):
        read_yaml("items: [\n", "f.yaml", FileError)

    class Free(BaseModel):
        @model_validator(mode="before")
        @classmethod
        def _never(cls, data: object) -> object:
            raise Problem("braces in {value} stay as given", value="{what}")

    doc = read_yaml("a: 1\n", "inline")
    with pytest.raises(ConfigError, match=r"^inline, line 1: braces in \{what\} stay as given$"):
        validate(Free, doc.data, doc)
