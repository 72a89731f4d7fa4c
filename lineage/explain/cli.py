"""``ledgerline explain failed --flow order_to_cash --since 6h``: the findings of
``GET /api/v1/explain`` as a table (``--json`` for the document)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from lineage.apiclient import add_client_options, emit, get_json
from lineage.explain.service import BASELINES, SUBJECTS
from lineage.explain.summary import what


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``explain`` sub-command; it sets ``func`` to :func:`run` (returns an exit code)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "explain",
        help="what the failed, slow, stuck or breached transactions have in common",
        description="Ask the lineage API why: the dimension values the subject's units carry "
        "significantly more often than the baseline's, ranked by money at risk, and when it started.",
    )
    parser.add_argument("subject", choices=SUBJECTS)
    parser.add_argument("--flow", default="", help="flow (default: the flows file's default)")
    parser.add_argument("--stage", default="", help="a stage of the flow (e.g. ledger)")
    parser.add_argument("--since", default="24h", help="start: ISO time or duration back (default 24h)")
    parser.add_argument("--until", default="", help="end: ISO time (default now)")
    parser.add_argument("--baseline", choices=BASELINES, default="rest", help="rest of the window, or the previous one")
    for name in ("system", "region", "legal-entity"):
        parser.add_argument(f"--{name}", default="", help=f"only this {name.replace('-', ' ')}")
    parser.add_argument("--json", action="store_true", help="print the API document as JSON")
    add_client_options(parser)
    parser.add_argument("--timeout", type=float, default=60.0, help="HTTP timeout in seconds")
    parser.set_defaults(func=run)
    return parser


def _money(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{m['amount']:,.2f} {m['currency'] or '?'}" for m in rows) or "-"


def render(doc: dict[str, Any]) -> str:
    """The answer as text: selection, findings table, pairs, change point."""
    sel = doc["selection"]
    lines = [
        f"{doc['subject']} {doc['unit'].replace('_', '-')}s: {sel['count']} against {doc['baseline_count']} "
        f"({doc['baseline']}), money at risk {_money(sel['money_at_risk'])}",
        f"test: {doc['test']}; {doc['correction']}; level {doc['level']}",
    ]
    if not doc["findings"]:
        lines.append("no finding: nothing distinguishes the selection at this level")
    else:
        lines.append(f"{'#':>2}  {'dimension = value':<44} {'share':>13} {'p':>9} {'count':>6}  money at risk")
        for i, f in enumerate(doc["findings"] + doc["pairs"], 1):
            share = f"{f['share_selection']:.0%} vs {f['share_baseline']:.0%}"
            count, money = f["selection_count"], _money(f["money_at_risk"])
            lat = f.get("latency")
            slower = f"  (median {lat['median_ms']:,.0f} vs {lat['median_baseline_ms']:,.0f} ms)" if lat else ""
            by = f.get("explained_by")
            slower += f"  (explained by {what({'dimensions': by})})" if by else ""
            lines.append(f"{i:>2}  {what(f):<44} {share:>13} {f['p_value']:>9.2g} {count:>6}  {money}{slower}")
    cp = doc.get("change_point")
    if cp:
        values = ", ".join(f"{v['dimension']}={v['value']} ({v['how']})" for v in cp["values"]) or "none"
        lines.append(f"started {cp['at']}: rate {cp['rate_before']:.1%} -> {cp['rate_after']:.1%}; values: {values}")
    if doc["truncated"]:
        lines.append("truncated: the selection or the value list was cut at its bound")
    return "\n".join(lines)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """0 on an answer, 2 on API errors (one line on stderr)."""
    out = out or sys.stdout
    params = {
        "subject": args.subject,
        "flow": args.flow,
        "stage": args.stage,
        "since": args.since,
        "until": args.until,
        "baseline": args.baseline,
        "system": args.system,
        "region": args.region,
        "legal_entity": args.legal_entity,
    }
    doc, code = get_json("explain", args, "/api/v1/explain", {k: v for k, v in params.items() if v})
    if doc is None:
        return code
    return emit(doc, out, args.json, lambda: render(doc))
