"""Every command that reads, audits or changes an existing store, pointed at a data directory
that holds none (a typo, another working directory): one line naming the path, exit 2, nothing
created. Before, ``token list``, ``alerts --once`` and ``verify`` made an empty store there and
answered from it: no tokens, no alerts, "all clear". ``token create`` alone makes a store (the
first admin token, before serve ever ran)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.processes import LEDGERLINE, ledgerline_env

pytestmark = pytest.mark.timeout(240)


def _run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEDGERLINE, *argv], env=env, cwd=env["LEDGERLINE_DATA_DIR"].rsplit("/", 1)[0],
                          capture_output=True, text=True, timeout=90)  # fmt: skip


def test_commands_refuse_a_directory_without_a_store_and_create_nothing(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert _run(ledgerline_env(tmp_path / "k"), "keys", "init", "--dir", str(keys)).returncode == 0
    key, pub = str(keys / "seal.key"), str(keys / "seal.pub")
    typo = tmp_path / "typo"
    env = ledgerline_env(typo)
    commands = {
        "token list": ["token", "list"],
        "token revoke": ["token", "revoke", "0123456789abcdef"],
        "alerts --once": ["alerts", "--once"],
        "alerts": ["alerts"],
        "keys rotate": ["keys", "rotate", "--old-key", key, "--new-key", key],
        "--store": ["verify", "--store", "--public-key", pub],
        "--rollups": ["verify", "--rollups"],
    }
    for said, argv in commands.items():
        result = _run(env, *argv)
        assert result.returncode == 2, (argv, result)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (argv, result.stderr)
        assert lines[0].endswith(
            f"no store at {typo / 'clickhouse'}: run where serve keeps its data or set LEDGERLINE_DATA_DIR "
            f"(or LEDGERLINE_CLICKHOUSE_URL); {said} never creates one"
        ), (argv, result.stderr)
        assert result.stdout == "" and not typo.exists(), argv
    # the first admin token is the one command that makes a store where there is none
    created = _run(env, "token", "create", "--subject", "first@corp.example", "--role", "admin")
    assert created.returncode == 0, created
    assert (typo / "clickhouse").is_dir()
    listed = _run(env, "token", "list")
    assert listed.returncode == 0 and "first@corp.example" in listed.stdout, listed
