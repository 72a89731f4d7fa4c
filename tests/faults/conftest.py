"""The fault suite: bounded (seconds each), loopback only. ``pytest -m faults`` runs it alone.

Example counts come from ``FAULTS_EXAMPLES`` (small by default; ``bench/faults.py`` raises
them), and when ``FAULTS_REPORT`` names a file each fuzz case appends a JSON line of
figures to it for the benchmark to sum.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from collector.store import Store
from tests.lineage.auth.helpers import bearer, issue


def examples(default: int) -> int:
    """Cases per fuzzer: ``FAULTS_EXAMPLES`` or ``default``."""
    return int(os.environ.get("FAULTS_EXAMPLES", default))


def report(**figures: int) -> None:
    """Append figures for bench/faults.py (no-op unless FAULTS_REPORT is set)."""
    path = os.environ.get("FAULTS_REPORT")
    if path:
        with Path(path).open("a") as out:
            out.write(json.dumps(figures) + "\n")


@pytest.fixture
def api_headers(store: Store) -> dict[str, str]:
    """Headers every API call of the fault suite sends: a real admin token, so every route is reachable."""
    return bearer(issue(store, "admin", "fuzzer@test.example"))
