"""``ledgerline replay``: replay one exception, or a filtered backlog, through the lineage API.

    ledgerline replay EXCEPTION_ID --reason "ERP back up"
    ledgerline replay --category erp_unavailable --since 2h --dry-run
    ledgerline replay --approve REPLAY_ID | --cancel REPLAY_ID

The bearer token comes from ``--token`` or ``$LEDGERLINE_API_TOKEN``; the API records the
token's subject as the actor.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

import httpx

from lineage.apiclient import add_client_options, api_detail, auth_headers


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``replay`` sub-command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="replay failed hops from the exception backlog (four-eyes, no double postings)",
        description="Ask the owning system to retry a failed hop. Give an exception id and --reason, "
        "or a filter (--category/--system/--since/--until) for a bulk replay; --dry-run only counts.",
    )
    p.add_argument("exception_id", nargs="?", help="the exception to replay")
    p.add_argument("--reason", default="", help="why (kept in the audit trail); required unless --dry-run")
    p.add_argument("--category", default="", help="bulk: error category, e.g. erp_unavailable")
    p.add_argument("--system", default="", help="bulk: owning system, e.g. erp")
    p.add_argument("--since", default="", help="bulk: ISO-8601 or a duration ago (default 24h)")
    p.add_argument("--until", default="", help="bulk: ISO-8601 or a duration ago (default now)")
    p.add_argument("--dry-run", action="store_true", help="bulk: count and sum, replay nothing")
    p.add_argument("--approve", metavar="REPLAY_ID", help="approve another person's replay")
    p.add_argument("--cancel", metavar="REPLAY_ID", help="cancel a replay not yet sent")
    p.add_argument("--json", action="store_true", help="print the API answer as JSON")
    add_client_options(p)
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    p.set_defaults(func=run)
    return p


def _request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if args.approve or args.cancel:
        action, rid = ("approve", args.approve) if args.approve else ("cancel", args.cancel)
        return f"/api/v1/replays/{rid}/{action}", {"note": args.reason}
    bulk = any((args.category, args.system, args.since, args.until)) or args.dry_run
    if args.exception_id and not bulk:
        if not args.reason.strip():
            raise ValueError("--reason is required")
        return f"/api/v1/exceptions/{args.exception_id}/replay", {"reason": args.reason}
    if args.exception_id:
        raise ValueError("give an exception id or a filter, not both")
    if not bulk:
        raise ValueError("give an exception id, or a filter such as --category erp_unavailable --since 2h")
    if not args.dry_run and not args.reason.strip():
        raise ValueError("a bulk replay needs --reason (or --dry-run)")
    flt = {"category": args.category, "system": args.system, "since": args.since or "24h", "until": args.until}
    return "/api/v1/replays", {"filter": flt, "dry_run": args.dry_run, "reason": args.reason}


def render(doc: dict[str, Any]) -> str:
    """One replay, or a bulk answer, in a few lines."""
    if "count" in doc:
        verb = "would replay" if doc["dry_run"] else "replayed"
        sums = ", ".join(f"{v:,.2f} {k}" for k, v in sorted(doc["amount_by_currency"].items())) or "no amounts"
        lines = [f"{verb} {doc['count']} exception(s): {sums}"]
        if doc["refused_count"]:
            lines.append(f"refused {doc['refused_count']}:")
            lines += [f"  {r['exception_id']}  {r['reason']}" for r in doc["refused"]]
        lines += [f"  {r['id']}  {r['state']}  {r['entity_type']} {r['entity_id']}" for r in doc["replays"]]
        return "\n".join(lines)
    approved = f", approved by {doc['approved_by']}" if doc.get("approved_by") else ""
    return (
        f"replay {doc['id']}  {doc['state']}  {doc['entity_type']} {doc['entity_id']} {doc['step']} "
        f"@{doc['system']}  requested by {doc['requested_by']}{approved}"
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """0 on success, 1 when refused or unknown, 2 on usage or API errors."""
    out = out or sys.stdout
    headers = auth_headers(args.token)
    try:
        path, body = _request(args)
        response = httpx.post(args.api.rstrip("/") + path, json=body, headers=headers, timeout=args.timeout)
    except ValueError as exc:
        print(f"ledgerline replay: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"ledgerline replay: cannot reach the lineage API at {args.api}: {exc}", file=sys.stderr)
        return 2
    if response.status_code >= 300:
        print(f"ledgerline replay: {api_detail(response)} (HTTP {response.status_code})", file=sys.stderr)
        return 1 if response.status_code in (403, 404, 409) else 2
    doc = response.json()
    out.write((json.dumps(doc, indent=2) if args.json else render(doc)) + "\n")
    return 0
