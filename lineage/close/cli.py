"""``ledgerline close status [--period YYYY-MM] [--legal-entity LE] [--json]``: the close gate
of every legal entity in the caller's scope (or one), as a table, from the lineage API;
``close certificate LE PERIOD --out F`` downloads the signed certificate and ``close verify F
--public-key KEY`` checks it offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from collector.store.errors import LedgerlineError
from lineage.apiclient import add_client_options, emit, get_json
from lineage.close.certificate import GROUPS
from lineage.close.certificate import verify as verify_certificate
from lineage.close.hopset import rule_of
from lineage.evidence.keys import load_public


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
    register_more(sub)
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
                lines.append(f"    {name:<22}{group['count']:>7}  {money + '  ' if money else ''}({flag})")
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
    return emit(doc, out, args.json, lambda: render(gates))


def register_more(sub: Any) -> None:
    """``close certificate`` and ``close verify``."""
    cert = sub.add_parser("certificate", help="download the signed close certificate of an entity and period")
    cert.add_argument("legal_entity")
    cert.add_argument("period", help="YYYY-MM")
    cert.add_argument("--out", type=Path, required=True, help="file to write the certificate to")
    add_client_options(cert)
    cert.add_argument("--timeout", type=float, default=60.0, help="HTTP timeout in seconds")
    cert.set_defaults(func=run_certificate)
    verify = sub.add_parser("verify", help="verify a close certificate offline with the seal public key")
    verify.add_argument("file", type=Path)
    verify.add_argument("--public-key", type=Path, required=True, help="the seal public key (PEM)")
    verify.set_defaults(func=run_verify)


def run_certificate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Write the certificate; 1 when there is none, 2 on API errors."""
    path = f"/api/v1/close/{quote(args.legal_entity, safe='')}/{quote(args.period, safe='')}/certificate"
    doc, code = get_json("close", args, path)
    if doc is None:
        return code
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (out or sys.stdout).write(f"wrote the {doc['legal_entity']} {doc['period']} certificate to {args.out}\n")
    return 0


def run_verify(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """0 when the certificate verifies, 1 with one line per problem (naming the field), 2 on bad input."""
    try:
        cert = json.loads(args.file.read_text(encoding="utf-8"))
        public = load_public(args.public_key)
    except (OSError, ValueError, LedgerlineError) as exc:
        print(f"ledgerline close verify: {exc}", file=sys.stderr)
        return 2
    problems = verify_certificate(cert, public) if isinstance(cert, dict) else ["the file is not a certificate"]
    if problems:
        for line in problems:
            print(f"ledgerline close verify: {args.file}: {line}", file=sys.stderr)
        return 1
    figures = cert["figures"]
    (out or sys.stdout).write(
        f"OK: {cert['legal_entity']} {cert['period']} signed by {cert['reviewed_by']} (prepared by "
        f"{cert['prepared_by']}), {figures['hops']} hops (by {rule_of(figures)}), root {figures['hops_root'][:16]}...\n"
    )
    return 0
