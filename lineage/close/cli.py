"""``ledgerline close status [--period YYYY-MM] [--legal-entity LE] [--json]``: the close gate
of every legal entity in the caller's scope (or one), as a table, from the lineage API."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO
from urllib.parse import quote

from lineage.apiclient import add_client_options, get_json

GROUPS = ("not_posted", "cut_off", "open_exceptions", "replays", "unsealed")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``close status``; it sets ``func`` to :func:`run` (returns an exit code)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "close", help="period close readiness", description="Period close readiness from live lineage."
    )
    sub = parser.add_subparsers(dest="close_command", required=True)
    status = sub.add_parser("status", help="the close gate of each legal entity for a period")
    status.add_argument("--period", default="", help="YYYY-MM (default: last month)")
    status.add_argument("--legal-entity", default="", help="one legal entity")
    status.add_argument("--json", action="store_true", help="print the API document as JSON")
    add_client_options(status)
    status.add_argument("--timeout", type=float, default=60.0, help="HTTP timeout in seconds")
    status.set_defaults(func=run)
    return parser


def _money(group: dict[str, Any]) -> str:
    return ", ".join(f"{m['amount']:,.2f} {m['currency'] or '?'}" for m in group["money"])


def render(gates: list[dict[str, Any]]) -> str:
    """One line per legal entity, then its blocking groups indented."""
    lines = [f"{'legal entity':<14}{'period':<9}{'status':<10}{'deadline':<22}{'days':>5}  blocking"]
    for g in gates:
        lines.append(
            f"{g['legal_entity']:<14}{g['period']:<9}{g['status']:<10}{g['deadline']:<22}{g['days_to_deadline']:>5}"
            f"  {', '.join(g['blocking']) or '-'}"
        )
        for name in GROUPS:
            group = g["groups"][name]
            if group["count"]:
                flag = "blocks" if group["blocking"] else "below materiality"
                money = _money(group)
                lines.append(f"    {name:<16}{group['count']:>7}  {money + '  ' if money else ''}({flag})")
    return "\n".join(lines)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """0 on an answer, 1 for an unknown legal entity, 2 on API errors (one line on stderr)."""
    out = out or sys.stdout
    if args.legal_entity:
        period = args.period
        if not period:
            all_doc, code = get_json("close", args, "/api/v1/close")
            if all_doc is None:
                return code
            period = all_doc["period"]
        doc, code = get_json("close", args, f"/api/v1/close/{quote(args.legal_entity, safe='')}/{quote(period)}")
        gates = [doc] if doc is not None else []
    else:
        doc, code = get_json("close", args, "/api/v1/close", {"period": args.period} if args.period else None)
        gates = doc["gates"] if doc is not None else []
    if doc is None:
        return code
    if args.json:
        json.dump(doc, out, indent=2)
        out.write("\n")
    else:
        out.write(render(gates) + "\n")
    return 0
