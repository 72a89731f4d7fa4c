"""Upgrades keep data: a store written by an earlier release opens, migrates and reads back.

tests/fixtures/store-0.1.0.tar.gz and store-0.2.0.tar.gz are embedded stores that releases
0.1.0 and 0.2.0 wrote (see tests/fixtures/make_store_0_1_0.py and make_store_0_2_0.py), with
the API's answers at the time. The current code runs its migrations over each and must give
the same answers.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from collector.store import StoreSettings, open_store
from ledgerline.schema import MIGRATIONS, migrate_all
from lineage.auth.principal import normalise_subject
from lineage.core.scope import EVERYTHING
from tests.lineage.conftest import make_lineage
from tests.processes import LEDGERLINE, Command, free_port, ledgerline_env, wait_http

FIXTURES = Path(__file__).parent.parent / "fixtures"
FIXTURE = FIXTURES / "store-0.1.0.tar.gz"


def _unpack(tmp_path: Path, fixture: Path = FIXTURE) -> Path:
    with tarfile.open(fixture) as tar:
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
    assert _schema(tmp_path / "data")["columns"] == _schema(tmp_path / "fresh", migrate=True)["columns"]


def read_back(data_dir: str) -> dict[str, object]:
    """Open the old store with the current code, migrate it, and answer as the fixture recorded."""
    from lineage.core.timeparse import parse_instant, to_ms, utcnow
    from lineage.core.window import Window

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


FIXTURE_0_2_0 = FIXTURES / "store-0.2.0.tar.gz"
# Written on 2026-12-07 with six hours of history before it: a fixed window keeps the test valid later.
WINDOW_0_2_0 = {"since": "2026-12-06T00:00:00Z", "until": "2026-12-08T00:00:00Z", "limit": 1000}
SETTLED = {"complete", "failed"}  # no later time changes these; in flight, stuck or breached age with the clock


def test_release_0_2_0_store_opens_migrates_and_reads_back(tmp_path: Path) -> None:
    data = _unpack(tmp_path, FIXTURE_0_2_0)
    expected = json.loads((data / "answers-0.2.0.json").read_text())
    before = _schema(data)["versions"]
    assert before == expected["migrations"]  # as release 0.2.0 left it
    # Served as 0.2.0 served it: its alert rules and replay targets.
    env = ledgerline_env(
        data,
        LEDGERLINE_ALERT_RULES=str(data / "rules-0.2.0.yaml"),
        LEDGERLINE_REPLAY_TARGETS=str(data / "replay-targets-0.2.0.yaml"),
    )
    port = free_port()
    serve = Command("serve", "--components", "api", "--api-port", str(port), env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        _reads_back(f"http://127.0.0.1:{port}", expected)
        serve.signal(signal.SIGTERM)
        assert serve.exit_code(60) == 0, serve.stderr
    finally:
        if serve.process.poll() is None:
            serve.kill()
    upgraded, fresh = _schema(data), _schema(tmp_path / "fresh", migrate=True)
    after = upgraded["versions"]
    assert after == fresh["versions"] == sorted(m.version for m in MIGRATIONS)  # every migration since 0.2.0 applied
    assert {152, 162} <= set(after) - set(before)  # access-log scopes, seal-key rotations
    assert upgraded["columns"] == fresh["columns"]  # the same tables, columns and codecs as a store made today
    # The seal chain 0.2.0 wrote verifies with today's code, through the last seal it reported.
    reported = re.fullmatch(r"(OK .*); latest seal hash ([0-9a-f]{64})", expected["verify_store"])
    assert reported is not None, expected["verify_store"]
    verify = _run("verify", "--store", "--anchor", reported.group(2), env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith(f"{reported.group(1)}; latest seal hash {reported.group(2)}"), verify.stdout
    # The migration built the rollup from what 0.2.0 stored: every minute recomputes to the same figures.
    rolled = _run("verify", "--rollups", "--since", WINDOW_0_2_0["since"], env=env)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert re.match(r"OK rollups: [1-9]\d* covered minute\(s\) recomputed, 0 not yet sealed", rolled.stdout), (
        rolled.stdout
    )
    # ... and the open-transactions index: every row of those days recomputes to the same starts and completions.
    assert re.search(r"^OK open transactions: [1-9]\d* row\(s\) recomputed$", rolled.stdout, re.M), rolled.stdout
    # The evidence pack it exported verifies offline with today's verifier.
    pack = _run("verify", str(data / "pack-0.2.0.json"), "--public-key", str(data / "seal.pub"), env=env)
    assert pack.returncode == 0, pack.stdout + pack.stderr


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEDGERLINE, *args], env=env, capture_output=True, text=True, timeout=240, check=False)


def _schema(data: Path, migrate: bool = False) -> dict[str, Any]:
    """The migrations a store records and its tables' columns with their codecs, read in a process
    of its own (one per chdb data directory); ``migrate``: bring it up to date first (a fresh store)."""
    script = f"""
import json
from pathlib import Path
from collector.store import StoreSettings, open_store
from ledgerline.schema import migrate_all
store = open_store(StoreSettings(data_dir=Path({str(data)!r})))
if {migrate!r}:
    migrate_all(store)
versions = sorted(int(v) for (v,) in store.query("SELECT DISTINCT version FROM schema_migrations"))
columns = {{}}
for table, name, kind, codec in store.query(
    "SELECT table, name, type, compression_codec FROM system.columns WHERE database = currentDatabase() "
    "ORDER BY table, position"
):
    columns.setdefault(table, []).append([name, kind, codec])
print(json.dumps({{"versions": versions, "columns": columns}}))
store.close()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _ms(at: str) -> int:
    """Epoch ms of an ISO time, with or without its zone (0.2.0 wrote UTC without one)."""
    when = datetime.fromisoformat(at)
    return round((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


def _reads_back(api: str, expected: dict[str, Any]) -> None:
    """The upgraded store through today's API, with the tokens 0.2.0 issued, against 0.2.0's answers."""
    who = {
        name: httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        for name, token in expected["secrets"].items()
    }
    _tokens_authenticate(who, expected)
    _same_business_data(who, expected)
    _same_access_log(who, expected)
    _same_alerts_and_seals(who["admin"], expected)


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def _tokens_authenticate(who: dict[str, httpx.Client], expected: dict[str, Any]) -> None:
    """As the same subject, role and scope; the revoked one stays revoked."""
    for name, was in expected["whoami"].items():
        now = _get(who[name], "/api/v1/whoami")
        assert normalise_subject(now["subject"]) == normalise_subject(was["subject"])
        assert (now["role"], now["via"], now["scope"]) == (was["role"], was["via"], was["scope"]), name
    assert who["revoked"].get("/api/v1/whoami").status_code == 401
    tokens = _get(who["admin"], "/api/v1/tokens")["tokens"]
    listed = sorted([t["id"], normalise_subject(t["subject"]), t["role"], bool(t["revoked_at"])] for t in tokens)
    assert listed == sorted([i, normalise_subject(s), r, revoked] for i, s, r, revoked in expected["tokens"])


def _same_status(was: str, now: str) -> bool:
    return now == was if was in SETTLED else now not in SETTLED


def _same_business_data(who: dict[str, httpx.Client], expected: dict[str, Any]) -> None:
    """The same transactions, hops, exceptions with their audit trails, and replays."""
    admin = who["admin"]
    listing = _get(admin, "/api/v1/transactions", **WINDOW_0_2_0)["transactions"]
    statuses = {t["correlation_id"]: t["status"] for t in listing}
    assert statuses.keys() == expected["transactions"].keys()
    for cid, was in expected["transactions"].items():
        assert _same_status(was, statuses[cid]), (cid, was, statuses[cid])
    for cid, doc in expected["documents"].items():
        now = _get(admin, f"/api/v1/transactions/{cid}")
        assert sorted([h["entity_type"], h["entity_id"], h["step"], h["attempts"]] for h in now["hops"]) == doc["hops"]
        assert _same_status(doc["status"], now["status"]), (cid, doc["status"], now["status"])
    exceptions = _get(admin, "/api/v1/exceptions", **WINDOW_0_2_0)["exceptions"]
    assert {e["id"]: e["state"] for e in exceptions} == expected["exceptions"]
    for exc_id, history in expected["exception_history"].items():
        trail = _get(admin, f"/api/v1/exceptions/{exc_id}")["history"]
        assert [[h["action"], normalise_subject(h["actor"])] for h in trail] == [
            [action, normalise_subject(actor)] for action, actor in history
        ], exc_id
    for replay in expected["replays"].values():
        now = _get(admin, f"/api/v1/replays/{replay['id']}")
        assert (now["state"], [h["state"] for h in now["history"]]) == (replay["state"], replay["history"])
        assert normalise_subject(now["requested_by"]) == normalise_subject(replay["requested_by"])
    # Four eyes still hold: the requester cannot approve the replay awaiting a second operator.
    waiting = expected["replays"]["awaiting_1"]["id"]
    assert who["operator_a"].post(f"/api/v1/replays/{waiting}/approve", json={}).status_code == 403


def _entries(log: list[dict[str, Any]]) -> set[tuple[int, str, str, str, int]]:
    return {(_ms(e["at"]), normalise_subject(e["subject"]), e["action"], e["target"], e["status"]) for e in log}


def _same_access_log(who: dict[str, httpx.Client], expected: dict[str, Any]) -> None:
    """Every entry 0.2.0 wrote, shown to an unrestricted caller only: they name no data scope."""
    window = {"since": WINDOW_0_2_0["since"], "until": WINDOW_0_2_0["until"], "limit": 10_000}
    fields = ("at", "subject", "action", "target", "status")
    logged = _entries([dict(zip(fields, entry, strict=True)) for entry in expected["audit_log"]])
    assert logged <= _entries(_get(who["admin"], "/api/v1/audit-log", **window)["entries"])
    scoped = _get(who["auditor_de"], "/api/v1/audit-log", **window)
    assert not logged & _entries(scoped["entries"])
    assert scoped["withheld"] >= len(logged)


def _same_alerts_and_seals(admin: httpx.Client, expected: dict[str, Any]) -> None:
    """Alerts held (firing, pending) and silences as the evaluator stored them; the same seal key."""
    alerts = _get(admin, "/api/v1/alerts")
    held = [[a["fingerprint"], a["labels"]["alertname"], a["state"]] for a in alerts["alerts"]]
    assert sorted(a for a in held if a[2] != "resolved") == sorted(a for a in expected["alerts"] if a[2] != "resolved")
    assert {"firing", "pending"} <= {state for _, _, state in held}
    assert sorted(r["name"] for r in alerts["rules"]) == expected["rules"]
    assert sorted(s["id"] for s in _get(admin, "/api/v1/silences")) == expected["silences"]
    assert _get(admin, "/api/v1/seals/public-key")["fingerprint"] == expected["seal_public_key"]["fingerprint"]
    assert _get(admin, f"/api/v1/transactions/{expected['evidence_cid']}/seal-status")["fully_sealed"]
