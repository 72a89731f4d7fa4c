"""Memory under overload stays within the model (issue 28: 1.17 GiB with the defaults and 4,000-span
requests, 1.95 GiB with a 20,000-span queue and 16 requests in progress).

``ledgerline serve`` flooded with large requests, with the defaults and with the issue's settings:
its peak RSS stays under what collector/memory.py allows for those settings (itself within the
limit), and nothing but 429/503 refuses a request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.overload import LARGE, memory_round

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


@pytest.mark.parametrize(
    ("name", "senders", "batch", "env"),
    [("defaults", 32, 4000, {}), ("large", 16, 20_000, LARGE)],
    ids=["defaults", "large"],
)
def test_peak_memory_under_a_flood_stays_within_the_model(
    tmp_path: Path, name: str, senders: int, batch: int, env: dict[str, str]
) -> None:
    figures = memory_round(name, tmp_path / "data", senders, batch, 10, **env)
    assert figures[f"memory_{name}_acknowledged_spans"] > 0
    assert figures[f"memory_{name}_5xx"] == 0
    assert figures[f"memory_{name}_peak_rss_mib"] <= figures[f"memory_{name}_model_mib"], figures
    assert figures[f"memory_{name}_model_mib"] <= figures[f"memory_{name}_limit_mib"]
