"""``ledgerline replay`` against the lineage API served over loopback."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from collector.service import UvicornThread
from ledgerline.cli import build_parser
from lineage.replay import cli
from tests.lineage.replay.conftest import Env
from tests.principals import TokenLogin


def _run(argv: list[str]) -> tuple[int, str]:
    args = build_parser().parse_args(["replay", *argv])
    out = io.StringIO()
    return cli.run(args, out), out.getvalue()


def test_cli_dry_run_single_and_refusal(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    login = env.client.app
    assert isinstance(login, TokenLogin)
    server = UvicornThread(login.app, "127.0.0.1", 0)  # the real app: the CLI sends a real token
    server.start()
    api = ["--api", f"http://127.0.0.1:{server.port}", "--token", login.token("alice")]
    try:
        code, out = _run(["--category", "erp_unavailable", "--since", "2h30m", "--dry-run", *api])
        assert code == 0 and out.startswith("would replay 2 exception(s): 5,500.00 EUR")
        code, out = _run([env.ids["C-ERP-1"], "--reason", "ERP back", *api])
        assert code == 0 and " approved " in out and "requested by alice" in out
        code, _ = _run([env.ids["C-ERP-1"], "--reason", "again", *api])
        assert code == 1 and "already in flight" in capsys.readouterr().err
        assert _run([env.ids["C-ERP-1"], *api])[0] == 2  # no reason
        assert _run(["--category", "erp_unavailable", *api])[0] == 2  # bulk without reason or dry run
    finally:
        server.stop(5)


def test_serve_refuses_bad_targets_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "targets.yaml"
    bad.write_text("targets:\n  - system: erp\n    url: nope\n")
    env = {"LEDGERLINE_REPLAY_TARGETS": str(bad), "LEDGERLINE_DATA_DIR": str(tmp_path / "data"), "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "ledgerline.cli", "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(f"{bad}, line 3: url must be an http(s) URL with a host, not 'nope'")
