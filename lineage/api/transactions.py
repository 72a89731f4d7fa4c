"""Routes of one transaction: by correlation ID, by business key, by search, and the listing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from lineage.api.context import Ctx
from lineage.api.deps import Status, Svc
from lineage.api.models import EntityTransactions, SearchResult, Transaction, TransactionList
from lineage.auth.middleware import set_audit_target
from lineage.auth.principal import CurrentScope

router = APIRouter(prefix="/api/v1", tags=["lineage"])


@router.get("/transactions/{correlation_id}", response_model=Transaction)
def get_transaction(svc: Svc, scope: CurrentScope, correlation_id: str) -> Any:
    """One transaction's lineage from its hops in the caller's scope: hops (retries folded into attempts),
    entity nodes and edges, stitched transactions (bounded; how many were left out), SLA per stage and end
    to end, conformance and amount findings, exceptions and replays. 404 when no hop is stored or none is
    in scope.
    """
    doc = svc.transaction(scope, correlation_id)
    if doc is None:
        raise HTTPException(404, f"no hops stored for correlation ID {correlation_id!r}")
    return doc


@router.get("/entities/{entity_type}/{entity_id}", response_model=EntityTransactions)
def get_entity(
    svc: Svc,
    scope: CurrentScope,
    entity_type: str,
    entity_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    """The correlation IDs a business key (entity type and id) belongs to, first seen first, and their
    transactions; at most ``limit``, ``truncated`` when more. 404 when no hop of the entity is in scope.
    """
    doc = svc.entity(scope, entity_type, entity_id, limit)
    if doc is None:
        raise HTTPException(404, f"no hops stored for entity {entity_type}:{entity_id}")
    return doc


@router.get("/search", response_model=SearchResult)
def search(
    svc: Svc,
    scope: CurrentScope,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=500, description="correlation ID, type:id, or a bare key")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    """One search as a user types it: a correlation ID, else a business key ``type:id``, else a key of
    any entity type (``INV-1`` finds ``invoice:INV-1``). One call, one access-log entry. 404 when
    nothing in scope matches.
    """
    set_audit_target(request, q.strip()[:500])
    doc = svc.search(scope, q, limit)
    if doc is None:
        raise HTTPException(404, f"nothing found for {q.strip()!r}: no correlation ID and no business key")
    return doc


@router.get("/transactions", response_model=TransactionList)
def list_transactions(svc: Svc, ctx: Ctx, status: Status | None = None) -> Any:
    """Transactions whose first hop started in the window, newest first, filtered by status, flow,
    system (a hop of that system), region and legal entity (computed from their hops); status and SLA
    derived in SQL. At most ``limit``; ``truncated`` when more matched.
    """
    doc = svc.transactions(ctx.scope, ctx.window, status or "", ctx.flow, ctx.system, ctx.region)
    return doc | {"context": ctx.echo()}
