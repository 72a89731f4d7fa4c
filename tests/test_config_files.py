"""The flows file, the replay targets and the redaction rules go through the one YAML reader
(collector/config.py): a syntax error and a field error are one line each, ``file, line N:
problem``, in the same shape for all three files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from collector.config import read_yaml
from collector.redact import load_redactor
from collector.store.errors import ConfigError
from lineage.core.flows import load_flows
from lineage.replay.targets import load_targets

Load = Callable[[Path], object]
FILES: dict[str, tuple[Load, str, int, str]] = {
    "flows": (
        load_flows,
        "flows:\n  f:\n    stages:\n      - {name: a, entity_type: x, step: x.done}\n"
        "      - {name: b, entity_type: y, step: y.done, sla: soon}\n",
        5,
        "sla: not a duration: 'soon' (use e.g. 90s, 5m, 5min, 4h, 1h30m, 7d, 2w, or a number of seconds)",
    ),
    "replay targets": (
        lambda path: load_targets(str(path), frozenset({"timeout"})),
        "targets:\n  - system: erp\n    url: nope\n",
        3,
        "url must be an http(s) URL with a host, not 'nope'",
    ),
    "redaction rules": (
        lambda path: load_redactor(str(path), "key"),
        "rules:\n  - {match: customer.email, action: hash}\n  - {match: card.number, action: burn}\n",
        3,
        "rule 2: action 'burn' is not one of drop, hash, mask",
    ),
}
BROKEN = "a: 1\nb: [c, d\n"  # unclosed at the end of the text: line 3


def _refusal(load: Load, path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    return str(info.value)


@pytest.mark.parametrize("name", FILES)
def test_a_field_error_is_file_line_problem(name: str, tmp_path: Path) -> None:
    load, text, line, problem = FILES[name]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert _refusal(load, path) == f"{path}, line {line}: {problem}"


@pytest.mark.parametrize("name", FILES)
def test_a_yaml_syntax_error_is_the_readers_own(name: str, tmp_path: Path) -> None:
    load = FILES[name][0]
    path = tmp_path / "config.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as reader:
        read_yaml(BROKEN, str(path))
    assert str(reader.value).startswith(f"{path}, line 3: not valid YAML: ")
    assert _refusal(load, path) == str(reader.value)
