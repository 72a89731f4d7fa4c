"""``ledgerline grafana``: write (or ``--check``) the Grafana provisioning, dashboards and
ClickHouse reader files from the flows file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from collector.store.errors import ConfigError


def _scoped(value: str) -> tuple[str, tuple[str, ...]]:
    user, _, les = value.partition("=")
    names = tuple(le.strip() for le in les.split(",") if le.strip())
    if not user.strip().isidentifier() or not names:
        raise argparse.ArgumentTypeError(f"expected USER=LE[,LE...] (USER a ClickHouse identifier), got {value!r}")
    return user.strip(), names


def cmd_grafana(args: argparse.Namespace) -> int:
    """Generate the files; with ``--check``, exit 1 naming those that differ."""
    from ledgerline.grafana import Options, access, render, stale, write
    from lineage.core.flows import load_flows

    flows = load_flows(args.flows or os.environ.get("LEDGERLINE_FLOWS") or None)
    scoped: dict[str, tuple[str, ...]] = dict(args.scoped) if args.scoped else dict(access.EXAMPLE_SCOPED)
    options = Options(
        dashboard_url=args.dashboard_url or os.environ.get("LEDGERLINE_DASHBOARD_URL") or Options.dashboard_url,
        api_url=args.api_url or os.environ.get("LEDGERLINE_API_URL") or Options.api_url,
        database=args.database or os.environ.get("LEDGERLINE_CLICKHOUSE_DATABASE") or Options.database,
        scoped=scoped,
        cluster=args.cluster or os.environ.get("LEDGERLINE_CLICKHOUSE_CLUSTER") or None,
    )
    files = render(flows, options)
    out = Path(args.out)
    if args.check:
        differ = stale(out, files)
        if differ:
            raise ConfigError(f"{out} is not what `ledgerline grafana` generates: {', '.join(differ)}")
        print(f"{out}: {len(files)} files up to date")
        return 0
    changed = write(out, files)
    print(f"{out}: wrote {len(changed)} of {len(files)} files" + (f" ({', '.join(changed)})" if changed else ""))
    return 0


def register(sub: Any) -> None:
    """Add the ``grafana`` sub-command."""
    parser = sub.add_parser("grafana", help="generate Grafana provisioning, dashboards and ClickHouse reader files")
    parser.add_argument("--out", default="deploy/grafana", help="output directory (default deploy/grafana)")
    parser.add_argument("--flows", help="flows file (default LEDGERLINE_FLOWS, else the packaged one)")
    parser.add_argument("--dashboard-url", help="ledgerline dashboard for links (LEDGERLINE_DASHBOARD_URL)")
    parser.add_argument("--api-url", help="lineage API for evidence links (LEDGERLINE_API_URL)")
    parser.add_argument("--database", help="ClickHouse database (LEDGERLINE_CLICKHOUSE_DATABASE, default ledgerline)")
    parser.add_argument(
        "--scoped",
        type=_scoped,
        action="append",
        metavar="USER=LE[,LE...]",
        help="a ClickHouse user for Grafana limited to these legal entities (repeatable; default: an example)",
    )
    parser.add_argument(
        "--cluster", help="readers' SQL ON CLUSTER, with the _local tables (LEDGERLINE_CLICKHOUSE_CLUSTER)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the files differ")
    parser.set_defaults(func=cmd_grafana)
