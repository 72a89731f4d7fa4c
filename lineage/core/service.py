"""The lineage service: runs the queries and shapes the answers. Holds no cache, so late
spans show up on the next request.

Every public method takes the caller's :class:`Scope` first and without a default, so a
call that forgets it is a type error; every query over hops binds it (lineage/sql/queries.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collector.store import Store
from lineage.core import domain, fold, open_txns, shape
from lineage.core.checks import amount_mismatches, duplicates
from lineage.core.derive import TxnFacts, Verdict, adopt, evaluate, facts_from_groups, facts_from_row
from lineage.core.domain import Assessed
from lineage.core.exception_reads import ExceptionReads
from lineage.core.flows import FlowConfig
from lineage.core.scope import Scope
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.settings import LineageSettings
from lineage.sql import facts_queries, queries

# Attempts read in one go per hop shown: a transaction with more reads those of its first hops.
_ATTEMPTS_PER_HOP = 4
# Above this many keys, stitching sends correlation IDs instead of keys (query size).
_MAX_KEY_PARAMS = 1000
Keys = dict[str, dict[str, list[tuple[str, str]]]]


class Lineage(ExceptionReads):
    """Queries over the stored hops for one store and one set of flow definitions (the
    exceptions' reads and actions: lineage/core/exception_reads.py)."""

    def __init__(
        self,
        settings: LineageSettings,
        store: Store,
        config: FlowConfig,
        replays: Callable[[list[str]], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.config = config
        # The replays of a document's exceptions: injected by the app (lineage/replay owns them),
        # so the core imports no product. None: documents list no replays.
        self.replays = replays or (lambda _ids: [])

    def facts(self, scope: Scope, ids: list[str]) -> dict[str, TxnFacts]:
        """Aggregated stage facts of the given correlation IDs (their hops in scope)."""
        if not ids:
            return {}
        rows = self._scoped(scope, facts_queries.FACTS_FOR_IDS, ids=ids, default_flow=self.config.default_flow)
        return {str(r["correlation_id"]): facts_from_row(r) for r in rows}

    def verdict(self, facts: TxnFacts, now_ms: int) -> Verdict:
        """Status and SLA of aggregated facts."""
        return evaluate(self.config, facts, now_ms)

    # -- stitching ---------------------------------------------------------------------------
    def keys(self, scope: Scope, ids: list[str]) -> Keys:
        """Entity, parent and span keys of each correlation ID's hops in scope."""
        if not ids:
            return {}
        rows = self._scoped(scope, queries.KEYS, ids=ids)
        return {str(r["cid"]): {k: r[k] for k in ("ents", "parents", "spans", "links")} for r in rows}

    def related(
        self, scope: Scope, cid: str, keys: Keys, first: list[dict[str, Any]] | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Correlation IDs reachable within the depth limit, and how many were left out.

        ``keys`` starts with the keys of ``cid`` and gains those of every related ID found;
        ``first``: the rows of the first step when already read (:meth:`_lookup_step`).
        Only links made by hops in scope are followed; a correlation ID reachable only
        through other hops is neither listed nor counted as left out.
        """
        seen, frontier = [cid], [cid]
        found: list[dict[str, Any]] = []
        omitted = 0
        for depth in range(1, self.settings.stitch_depth + 1):
            if not frontier:
                break
            if depth == 1 and first is not None:
                rows = first
            else:
                how, params = self._neighbour_params(frontier, keys, seen)
                sql = queries.NEIGHBOURS if how == "keys" else queries.NEIGHBOURS_BY_IDS
                rows = self._scoped(scope, sql, **params)
            if rows:
                omitted += int(rows[0]["total"]) - len(rows)
            frontier = [str(r["cid"]) for r in rows]
            seen += frontier
            keys.update(self.keys(scope, frontier))
            found += [{"correlation_id": str(r["cid"]), "depth": depth, "via": str(r["via"])} for r in rows]
        return found, omitted

    def _neighbour_params(self, frontier: list[str], keys: Keys, seen: list[str]) -> tuple[str, dict[str, Any]]:
        """How one stitching step finds its neighbours ("keys", or "ids": big frontiers let
        ClickHouse read their keys itself), and the parameters."""
        merged = {
            k: sorted({tuple(x) for f in frontier for x in keys.get(f, {}).get(k, [])})
            for k in ("ents", "parents", "spans", "links")
        }
        limit = self.settings.stitch_fanout
        if sum(len(v) for v in merged.values()) > _MAX_KEY_PARAMS:
            return "ids", {"ids": frontier, "exclude": seen, "limit": limit}
        lookups = sorted(
            {("entity", *e) for e in merged["ents"] + merged["parents"]} | {("span", *s) for s in merged["links"]}
        )
        return "keys", {
            "ents": merged["ents"],
            "spans": merged["spans"],
            "keys": lookups,
            "exclude": seen,
            "limit": limit,
        }

    def _lookup_step(
        self, scope: Scope, cid: str, keys: Keys
    ) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]], int]:
        """The first stitching step's neighbours (None without stitching), the edges and the
        withheld hops of one transaction, in one query (queries.LOOKUP_STEPS)."""
        stitch = self.settings.stitch_depth > 0
        how, params = self._neighbour_params([cid], keys, [cid]) if stitch else ("", {})
        # The edges are keyed on the transaction's own entities: the neighbours' ``ents`` when bound.
        params |= {"ents": keys[cid]["ents"], "edge_limit": self.settings.max_edges}
        if not scope.unrestricted:
            params["cid"] = cid
        rows = self._scoped(scope, queries.LOOKUP_STEPS[how, not scope.unrestricted], **params)
        by_kind: dict[str, list[dict[str, Any]]] = {"edge": [], "neighbour": [], "withheld": []}
        for r in rows:
            by_kind[r["kind"]].append(r)
        withheld = int(by_kind["withheld"][0]["total"]) if by_kind["withheld"] else 0
        return (by_kind["neighbour"] if stitch else None), by_kind["edge"], withheld

    def _facts_with_adoption(
        self,
        scope: Scope,
        cid: str,
        hops: list[dict[str, Any]],
        related: list[str],
        keys: Keys,
    ) -> dict[str, TxnFacts]:
        facts = {cid: facts_from_groups(cid, hops, self.config.default_flow)}
        if related:
            facts.update(self.facts(scope, related))
        owners: dict[tuple[str, str], set[str]] = {}
        for owner, k in keys.items():
            for ent in k["ents"]:
                owners.setdefault((str(ent[0]), str(ent[1])), set()).add(owner)
        if related:  # a child hop in another correlation ID always shows up as related
            adopt(facts, self._scoped(scope, queries.ADOPTED, ents=sorted(owners)), owners)
        return facts

    # -- one transaction ----------------------------------------------------------------------
    def hops(self, scope: Scope, cid: str) -> list[dict[str, Any]]:
        """The first ``max_hops + 1`` hops of one correlation ID in scope (one more than shown
        tells "truncated"), folded from its attempts (lineage/core/fold.py). One query; a
        second, limited to those hops' attempts, when there are too many attempts to read."""
        groups = self.settings.max_hops + 1
        cap = groups * _ATTEMPTS_PER_HOP
        params = {"cid": cid, **scope.params()}
        rows = self.store.query(queries.ATTEMPTS, params | {"limit": cap + 1})
        if len(rows) > cap:
            rows = self.store.query(queries.ATTEMPTS_OF_FIRST_HOPS, params | {"hops": groups})
        return fold.fold(cid, rows, groups)

    def transaction(self, scope: Scope, cid: str) -> dict[str, Any] | None:
        """The lineage document of one correlation ID from its hops in scope; None if it
        has none (unknown and out of scope look the same)."""
        hops = self.hops(scope, cid)
        if not hops:
            return None
        now_ms = to_ms(utcnow())
        keys = {cid: shape.own_keys(hops)}
        # Unrestricted, nothing is withheld: the step reads no WITHHELD count.
        first, edges, withheld = self._lookup_step(scope, cid, keys)
        related, omitted = self.related(scope, cid, keys, first)
        all_facts = self._facts_with_adoption(scope, cid, hops, [r["correlation_id"] for r in related], keys)
        facts = all_facts[cid]
        verdict = self.verdict(facts, now_ms)
        flow = self.config.flow(facts.flow)
        for rel in related:
            rel_facts = all_facts.get(rel["correlation_id"])
            rel["flow"] = rel_facts.flow if rel_facts else None
            rel["status"] = self.verdict(rel_facts, now_ms).status if rel_facts else None
        failing = any(h["fails"] for h in hops)
        return {
            "correlation_id": cid,
            "flow": flow.name,
            "status": verdict.status,
            "started_at": shape.iso(facts.started_ms),
            "completed_at": shape.iso(verdict.completed_ms),
            "last_activity_at": shape.iso(facts.last_ms),
            "hops": shape.link_compensations([shape.hop(h) for h in hops[: self.settings.max_hops]]),
            "hops_truncated": len(hops) > self.settings.max_hops,
            "withheld_hops": withheld,
            "nodes": shape.nodes(hops, edges),
            "edges": [{k: e[k] for k in shape.EDGE_KEYS} for e in edges],
            "edges_omitted": (int(edges[0]["total"]) - len(edges)) if edges else 0,
            "related_correlation_ids": [r["correlation_id"] for r in related],
            "related": related,
            "related_omitted": omitted,
            "sla": shape.sla(verdict),
            "conformance": verdict.conformance + duplicates(hops, flow.latency_to),
            "amount_mismatches": amount_mismatches(hops),
            "exceptions": self.with_amounts(scope, self._exceptions_of(hops)) if failing else [],
            "replays": self.replays([h["exc_id"] for h in hops if h["fails"]]) if failing else [],
        }

    def entity(self, scope: Scope, entity_type: str, entity_id: str, limit: int = 20) -> dict[str, Any] | None:
        """Correlation IDs an entity belongs to (through hops in scope), with their transactions."""
        rows = self._scoped(
            scope, queries.ENTITY_CORRELATIONS, entity_type=entity_type, entity_id=entity_id, limit=limit
        )
        if not rows:
            return None
        ids = [str(r["cid"]) for r in rows]
        docs = [self.transaction(scope, cid) for cid in ids]
        return {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "correlation_ids": ids,
            "truncated": int(rows[0]["total"]) > len(rows),
            "transactions": [d for d in docs if d is not None],
        }

    def search(self, scope: Scope, query: str, limit: int = 20) -> dict[str, Any] | None:
        """One user search: a correlation ID, else a business key ``type:id``, else a bare key of any
        entity type; the transactions found (at most ``limit``), or None."""
        query = query.strip()
        doc = self.transaction(scope, query)
        if doc is not None:
            return {"query": query, "found_as": "correlation_id", "keys": [], "correlation_ids": [query],
                    "truncated": False, "transactions": [doc]}  # fmt: skip
        kind, sep, key = query.partition(":")
        if sep and kind and key:
            keys = [(kind, key)]
        else:
            keys = [
                (str(r["entity_type"]), query)
                for r in self._scoped(scope, queries.ENTITY_TYPES_OF_KEY, entity_id=query)
            ]
        found = [e for e in (self.entity(scope, t, i, limit) for t, i in keys) if e is not None]
        if not found:
            return None
        ids = list(dict.fromkeys(cid for e in found for cid in e["correlation_ids"]))
        docs = {d["correlation_id"]: d for e in found for d in e["transactions"]}
        return {
            "query": query,
            "found_as": "business_key",
            "keys": [f"{e['entity_type']}:{e['entity_id']}" for e in found],
            "correlation_ids": ids[:limit],
            "truncated": len(ids) > limit or any(e["truncated"] for e in found),
            "transactions": [docs[c] for c in ids[:limit] if c in docs],
        }

    # -- listings -------------------------------------------------------------------------------
    def _assess(
        self,
        scope: Scope,
        window: Window,
        scan_ahead_ms: int,
        flow: str,
        system: str = "",
        region: str = "",
        keep: domain.Keep = "all",
    ) -> tuple[list[Assessed], bool]:
        """Transactions started in the window with their verdicts now (lineage/core/domain.py)."""
        return domain.assess(
            self.store,
            self.config,
            scope,
            since_ms=window.since_ms,
            until_ms=window.until_ms,
            scan_until_ms=window.until_ms + scan_ahead_ms,
            now_ms=to_ms(utcnow()),
            max_rows=self.settings.query_max_rows,
            flow=flow,
            system=system,
            region=region,
            keep=keep,
        )

    def transactions(
        self, scope: Scope, window: Window, status: str, flow: str, system: str, region: str, max_rows: int = 0
    ) -> dict[str, Any]:
        """Transactions started in the window, filtered; status derived from SQL aggregates
        over their hops in scope. The page is chosen before any transaction is aggregated
        (lineage/core/domain.py ``listing``), so a small ``limit`` costs its own transactions'
        hops, however large the window's other transactions are."""
        lookahead = max((f.end_to_end_sla_s or 0) for f in self.config.flows.values())
        listed: dict[str, Any] = {
            "since_ms": window.since_ms,
            "until_ms": window.until_ms,
            "scan_until_ms": window.until_ms + int(max(lookahead, 86400) * 2000),
            "now_ms": to_ms(utcnow()),
            "limit": window.limit,
            "max_rows": max_rows or self.settings.query_max_rows,
            "flow": flow,
            "system": system,
            "region": region,
        }
        if status == "stuck":  # from the open-transactions index (lineage/core/open_txns.py): the same answer
            assessed, truncated = open_txns.stuck_listing(self.store, self.config, scope, **listed)
        else:
            assessed, truncated = domain.listing(self.store, self.config, scope, status=status, **listed)
        items = [
            {
                "correlation_id": a.facts.correlation_id,
                "flow": a.facts.flow,
                "status": a.verdict.status,
                "started_at": shape.iso(a.facts.started_ms),
                "completed_at": shape.iso(a.verdict.completed_ms),
                "last_activity_at": shape.iso(a.facts.last_ms),
                "sla_breached": a.verdict.breached,
            }
            for a in assessed
        ]
        return {"transactions": items, "truncated": truncated}

    def sla_breaches(self, scope: Scope, window: Window, flow: str, stage: str, system: str = "") -> dict[str, Any]:
        """Late-but-complete stages and open-and-overdue stages of transactions in the window
        (their hops in scope; with ``system``, transactions with a hop of that system)."""
        assessed, scan_truncated = self._assess(
            scope, window, 7 * 86400 * 1000, flow=flow, system=system, keep="breaches"
        )
        out = [
            shape.breach(b.facts, b.stage) if b.stage else shape.e2e_breach(b.facts, b.verdict)
            for b in domain.breaches(assessed, stage)
        ]
        shown = out[: window.limit]
        money = self.transaction_amounts(scope, sorted({b["correlation_id"] for b in shown}))
        for b in shown:
            m = money.get(b["correlation_id"], {})
            b |= {"business_key": m.get("business_key"), "amount": m.get("amount"), "currency": m.get("currency")}
        kinds = [b["kind"] for b in out]
        return {
            "late_complete": kinds.count("late_complete"),
            "open_overdue": kinds.count("open_overdue"),
            "end_to_end": kinds.count("end_to_end"),
            "breaches": shown,
            "truncated": len(out) > window.limit or scan_truncated,
        }
