"""The planted world, built once for the package's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lineage.explain.planted import World, build


@pytest.fixture(scope="package")
def world(chdb_path: Path) -> Iterator[World]:
    yield from build(chdb_path)
