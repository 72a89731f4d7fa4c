"""``ledgerline trace``: print a transaction's lineage as a tree, from the lineage HTTP API.

It talks HTTP rather than opening the store because in embedded mode another process
(``ledgerline serve``) owns the chdb directory.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO
from urllib.parse import quote

from lineage.apiclient import add_client_options, emit, get_json


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``trace`` sub-command; it sets ``func`` to :func:`run` (returns an exit code)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "trace",
        help="show the lineage of a business transaction",
        description="Show a transaction's hops, entity tree, SLA verdicts, exceptions and stitched "
        "transactions, from the lineage API.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``trace``."""
    parser.add_argument("correlation_id", nargs="?", help="correlation ID of the transaction")
    parser.add_argument("--entity", metavar="TYPE:ID", help="look up by business key, e.g. invoice:INV-1")
    parser.add_argument("--json", action="store_true", help="print the API document as JSON")
    add_client_options(parser)
    parser.add_argument("--timeout", type=float, default=15.0, help="HTTP timeout in seconds")


def _path(args: argparse.Namespace) -> str:
    if args.entity:
        kind, sep, key = args.entity.partition(":")
        if not sep or not kind or not key:
            raise ValueError("--entity takes TYPE:ID, e.g. invoice:INV-1")
        return f"/api/v1/entities/{quote(kind, safe='')}/{quote(key, safe='')}"
    if not args.correlation_id:
        raise ValueError("give a correlation ID or --entity TYPE:ID")
    return f"/api/v1/transactions/{quote(args.correlation_id, safe='')}"


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Fetch and print; 0 when found, 1 when unknown, 2 on usage or API errors."""
    out = out or sys.stdout
    try:
        path = _path(args)
    except ValueError as exc:
        print(f"ledgerline trace: {exc}", file=sys.stderr)
        return 2
    doc, code = get_json("trace", args, path)
    if doc is None:
        return code
    return emit(doc, out, args.json, lambda: "\n".join(render(t) for t in doc.get("transactions", [doc])))


def main(argv: list[str] | None = None) -> int:
    """Run ``trace`` standalone (``python -m lineage.cli``)."""
    parser = argparse.ArgumentParser(prog="ledgerline trace")
    add_arguments(parser)
    return run(parser.parse_args(argv))


# -- rendering ------------------------------------------------------------------------------
def _t(iso: str | None) -> str:
    return "-" if not iso else iso.replace("T", " ")[:19] + "Z"


def _dur(ms: int | None) -> str:
    if ms is None:
        return "-"
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    h, rem = divmod(ms // 1000, 3600)
    m, s = divmod(rem, 60)
    return sign + (f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s")


def _hop_line(h: dict[str, Any]) -> str:
    tries = f" x{h['attempts']}" if h["attempts"] > 1 else ""
    err = f" [{h['error_category']}]" if h.get("error_category") else ""
    comp = f"  reverses {h['compensates']}" if h.get("compensates") else ""
    comp += f"  reversed by {', '.join(h['compensated_by'])}" if h.get("compensated_by") else ""
    return (
        f"{h['entity_type']} {h['entity_id']}  {h['step']} @{h['system']}  {h['outcome'].upper()}{tries}{err}"
        f"  {_t(h['start_time'])} ({_dur(h['duration_ms'])}){comp}"
    )


def _tree(doc: dict[str, Any]) -> list[str]:
    hops: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for h in doc["hops"]:
        hops.setdefault((h["entity_type"], h["entity_id"]), []).append(h)
    children: dict[tuple[str, str], list[tuple[str, str]]] = {}
    has_parent: set[tuple[str, str]] = set()
    for e in doc["edges"]:
        parent, child = (e["parent_type"], e["parent_id"]), (e["child_type"], e["child_id"])
        children.setdefault(parent, []).append(child)
        if parent in hops:
            has_parent.add(child)
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()

    def walk(node: tuple[str, str], prefix: str, last: bool) -> None:
        branch = "└─ " if last else "├─ "
        seen.add(node)
        if node in hops:
            for i, h in enumerate(hops[node]):
                lines.append(prefix + (branch if i == 0 else "   ") + _hop_line(h))
        else:
            lines.append(prefix + branch + f"{node[0]} {node[1]}  (in another transaction)")
        kids = [k for k in children.get(node, []) if k not in seen and (k in hops or node in hops)]
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last else "│  "), i == len(kids) - 1)

    roots = [n for n in hops if n not in has_parent]
    for i, root in enumerate(roots):
        if root not in seen:
            walk(root, "", i == len(roots) - 1)
    return lines


def _sla_lines(doc: dict[str, Any]) -> list[str]:
    lines = []
    for s in doc["sla"]["stages"]:
        limit = f"/{_dur(s['sla_ms'])}" if s["sla_ms"] is not None else ""
        if s["state"] == "done":
            verdict = "BREACHED" if s["breached"] else "ok"
            lines.append(f"  {s['stage']:<10} done in {_dur(s['duration_ms'])}{limit}  {verdict}")
        elif s["state"] == "open" and s["time_left_ms"] is not None:
            left = s["time_left_ms"]
            word = f"OVERDUE by {_dur(-left)}" if left < 0 else f"{_dur(left)} left"
            lines.append(f"  {s['stage']:<10} open{limit}  {word}")
        else:
            lines.append(f"  {s['stage']:<10} {s['state']}")
    e2e = doc["sla"]["end_to_end"]
    if e2e["sla_ms"] is not None:
        word = "BREACHED" if e2e["breached"] else "ok"
        lines.append(f"  {'end-to-end':<10} {_dur(e2e['elapsed_ms'])}/{_dur(e2e['sla_ms'])}  {word}")
    return lines


def render(doc: dict[str, Any]) -> str:
    """The lineage document as a human-readable tree."""
    lines = [
        f"{doc['correlation_id']}  flow={doc['flow']}  status={doc['status'].upper()}  "
        f"started {_t(doc['started_at'])}  completed {_t(doc['completed_at'])}",
        "",
    ]
    lines += _tree(doc)
    withheld = doc.get("withheld_hops", 0)
    if withheld:
        lines.append(f"… {withheld} hop{'s' if withheld != 1 else ''} withheld (outside your scope)")
    lines += ["", "SLA:", *_sla_lines(doc)]
    if doc["conformance"]:
        lines += ["", "Conformance:"] + [f"  {c['kind']}: {c['detail']}" for c in doc["conformance"]]
    if doc["amount_mismatches"]:
        lines += ["", "Amount mismatches:"] + [
            f"  {m['entity_type']} {m['entity_id']}: {m['amount']} {m['currency']} "
            f"(expected {m['expected_amount']} {m['expected_currency']})"
            for m in doc["amount_mismatches"]
        ]
    if doc["exceptions"]:
        lines += ["", "Exceptions:"] + [
            f"  {x['id']}  {x['entity_type']} {x['entity_id']} {x['step']}  {x['state']}  "
            f"{x['category'] or '-'} ({'transient' if x['recoverable'] else 'business rule'}), "
            f"{x['attempts']} attempts"
            for x in doc["exceptions"]
        ]
    if doc["related"]:
        lines += ["", "Stitched transactions:"] + [
            f"  {'  ' * (r['depth'] - 1)}{r['correlation_id']}  {r['flow'] or '-'}  {r['status'] or '-'}"
            f"  (via {r['via']}, depth {r['depth']})"
            for r in doc["related"]
        ]
        if doc["related_omitted"]:
            lines.append(f"  … {doc['related_omitted']} more left out (depth/fan-out limits)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
