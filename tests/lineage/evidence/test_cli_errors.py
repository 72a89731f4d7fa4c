"""``ledgerline evidence`` and ``seal`` as an auditor runs them from the wrong place: nothing
listening at ``--api``, another directory, a ``serve`` beside them on other ports. One line,
exit 2, and nothing created: no store, no seal key (issue 22)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.processes import LEDGERLINE, Command, free_port, ledgerline_env

pytestmark = pytest.mark.timeout(180)


def _bare_env() -> dict[str, str]:
    """No LEDGERLINE_* setting at all: the data directory is ./.ledgerline of the working directory."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}


def _run(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEDGERLINE, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=90)


def test_nothing_at_the_api_is_one_line_and_creates_no_store_or_key(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    api = f"http://127.0.0.1:{free_port()}"
    for command in (["evidence", "C-1", "--out", "pack.json"], ["seal"]):
        result = _run(elsewhere, _bare_env(), *command, "--api", api)
        assert result.returncode == 2, result
        assert result.stderr.splitlines() == [
            f"ledgerline {command[0]}: the lineage API at {api} is unreachable (nothing listens there): start "
            "`ledgerline serve`, pass its API URL with --api (or set LEDGERLINE_API_URL), or read a stopped "
            "server's store with --store"
        ], result.stderr
        assert result.stdout == ""
        assert list(elsewhere.iterdir()) == []  # no ./.ledgerline, no seal.key, no pack
    # --store reads a store that exists; it never makes one (nor a key) in the wrong directory
    result = _run(elsewhere, _bare_env(), "evidence", "C-1", "--out", "pack.json", "--store")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"ledgerline evidence: no store at {elsewhere / '.ledgerline' / 'clickhouse'}: run where serve keeps its "
        "data or set LEDGERLINE_DATA_DIR (or LEDGERLINE_CLICKHOUSE_URL); --store never creates one"
    ], result.stderr
    assert list(elsewhere.iterdir()) == []


def test_beside_a_running_serve_it_names_the_serve_and_how_to_reach_it(tmp_path: Path) -> None:
    env = ledgerline_env(tmp_path)
    serve = Command("serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0", env=env)
    try:
        api = re.search(r"api\s+(http://127\.0\.0\.1:\d+)/docs", serve.wait_for("api "))
        assert api is not None
        serve.wait_for("Ctrl-C to stop")
        wrong = f"http://127.0.0.1:{free_port()}"
        result = _run(tmp_path, env, "evidence", "C-1", "--out", "pack.json", "--api", wrong)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"ledgerline evidence: the lineage API at {wrong} is unreachable (nothing listens there), but "
            f"ledgerline serve (process {serve.process.pid}) holds the store at {(tmp_path / 'clickhouse').resolve()}: "
            "pass the API URL it printed with --api (or set LEDGERLINE_API_URL)"
        ], result.stderr
        # the URL it printed answers (here: no token yet, so the API's own one-line refusal)
        result = _run(tmp_path, env, "evidence", "C-1", "--out", "pack.json", "--api", api.group(1))
        assert result.returncode == 2 and result.stderr.startswith("ledgerline evidence: ")
        assert "(HTTP 401)" in result.stderr and len(result.stderr.splitlines()) == 1
        # --store beside it: the holder in one line, none of chdb's lock errors
        result = _run(tmp_path, env, "evidence", "C-1", "--out", "pack.json", "--store")
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert f"is held by process {serve.process.pid} (ledgerline serve)" in result.stderr
        assert not (tmp_path / "pack.json").exists()
        serve.signal(signal.SIGTERM)
        assert serve.exit_code(30) == 0
    finally:
        serve.kill()


def test_verify_from_the_wrong_directory_creates_no_store_and_never_says_ok(tmp_path: Path) -> None:
    # An auditor's typo'd data directory: before, `verify --store` made an empty store there and
    # failed on ClickHouse's "Unknown table" (with a key given), `verify --rollups` made one too.
    key_dir = tmp_path / "keys"
    assert _run(tmp_path, _bare_env(), "keys", "init", "--dir", str(key_dir)).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = elsewhere / ".ledgerline" / "clickhouse"
    for flag, extra in (("--store", ["--public-key", str(key_dir / "seal.pub")]), ("--rollups", [])):
        result = _run(elsewhere, _bare_env(), "verify", flag, *extra)
        assert result.returncode == 2, result
        assert result.stderr.splitlines() == [
            f"ledgerline verify: no store at {store}: run where serve keeps its data or set LEDGERLINE_DATA_DIR "
            f"(or LEDGERLINE_CLICKHOUSE_URL); {flag} never creates one"
        ], result.stderr
        assert "OK" not in result.stdout and list(elsewhere.iterdir()) == []
    # a directory that is there but holds no ledgerline store: told so in one line, not a DB error
    store.mkdir(parents=True)
    env = _bare_env() | {"LEDGERLINE_DATA_DIR": str(elsewhere / ".ledgerline")}
    for flag, extra, said in (
        ("--store", ["--public-key", str(key_dir / "seal.pub")], "this store has no seal chain"),
        ("--rollups", [], "this store has no rollup yet"),
    ):
        result = _run(elsewhere, env, "verify", flag, *extra)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result
        assert result.stderr.startswith(f"ledgerline verify: {said}: run `ledgerline migrate`"), result.stderr
