"""Upgrades keep data: a store written by release 0.1.0 opens, migrates and reads back.

tests/fixtures/store-0.1.0.tar.gz is an embedded store that release 0.1.0 wrote (see
tests/fixtures/make_store_0_1_0.py), with the lineage API's answers at the time. The
current code runs its migrations over it and must give the same answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from collector.store import StoreSettings, open_store
from ledgerline.schema import MIGRATIONS, migrate_all
from lineage.core.scope import EVERYTHING
from tests.lineage.conftest import make_lineage

FIXTURE = Path(__file__).parent.parent / "fixtures" / "store-0.1.0.tar.gz"


def _unpack(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data"


def test_release_0_1_0_store_migrates_and_reads_back(tmp_path: Path) -> None:
    # chdb opens one data directory per process, and the test session already holds one.
    script = f"""
import json, sys
from tests.ledgerline.test_upgrade import read_back
print(json.dumps(read_back({str(_unpack(tmp_path))!r})))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    expected = json.loads((tmp_path / "data" / "answers-0.1.0.json").read_text())
    before = set(got["applied_before"])
    assert {1, 2, 3, 4, 5, 100, 101, 200, 201} <= before
    assert got["applied_now"] == sorted({m.version for m in MIGRATIONS} - before)
    assert got["transactions"] == expected["transactions"]
    assert got["documents"] == expected["documents"]
    assert got["exceptions"] == expected["exceptions"]


def read_back(data_dir: str) -> dict[str, object]:
    """Open the old store with the current code, migrate it, and answer as the fixture recorded."""
    from lineage.core.service import Window
    from lineage.core.timeparse import parse_instant, to_ms, utcnow

    store = open_store(StoreSettings(data_dir=Path(data_dir)))
    before = [int(v) for (v,) in store.query("SELECT DISTINCT version FROM schema_migrations ORDER BY version")]
    applied = migrate_all(store)
    lineage = make_lineage(store)
    expected = json.loads((Path(data_dir) / "answers-0.1.0.json").read_text())
    cids = sorted(expected["transactions"])
    # The fixture was written on 2026-11-25; a fixed window around it keeps the test valid later.
    now = utcnow()
    window = Window(
        to_ms(parse_instant("2026-11-23T00:00:00Z", now)), to_ms(parse_instant("2026-11-27T00:00:00Z", now)), 10_000
    )
    listing = lineage.transactions(EVERYTHING, window, "", "", "", "")
    docs = {}
    for cid in expected["documents"]:
        doc = lineage.transaction(EVERYTHING, cid)
        assert doc is not None, cid
        docs[cid] = {
            "status": doc["status"],
            "hops": sorted([h["entity_type"], h["entity_id"], h["step"], h["attempts"]] for h in doc["hops"]),
        }
    excs = lineage.exceptions(EVERYTHING, window, "", "", "")
    store.close()
    return {
        "applied_before": before,
        "applied_now": applied,
        "transactions": {
            t["correlation_id"]: t["status"] for t in listing["transactions"] if t["correlation_id"] in cids
        },
        "documents": docs,
        "exceptions": sorted(e["id"] for e in excs["exceptions"]),
    }
