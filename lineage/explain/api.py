"""``GET /api/v1/explain``: what the failed, slow, stuck or breached units have in common."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from lineage.api.context import MetricsCtx
from lineage.api.deps import Svc, bad
from lineage.explain import service
from lineage.explain.errors import ExplainError
from lineage.explain.models import Explanation

router = APIRouter(prefix="/api/v1", tags=["explain"])


@router.get("/explain", response_model=Explanation)
def explain(
    svc: Svc,
    ctx: MetricsCtx,
    subject: Annotated[str, Query(description="failed | slow | stuck | breached")],
    stage: Annotated[str, Query(description="a stage (or step) of the flow")] = "",
    baseline: Annotated[
        str, Query(description="rest (the window's other units) | previous (the window before)")
    ] = "rest",
) -> Any:
    """The dimension values (system, region, legal entity, step, error category, currency, amount
    band, service, resource and ``biz.*`` attributes of bounded cardinality) the subject's units
    carry significantly more often than the baseline's, each with its shares, corrected p-value,
    count, money at risk per currency and the list behind it, ranked by money; pairs of values that
    explain clearly more than either alone; the change point of the subject's rate in the window
    and the values that appeared or jumped there. Scope applies in SQL."""
    flow = svc.config.flow(ctx.flow or None).name
    question = service.Question(subject, baseline, flow, stage, ctx.system, ctx.window)
    try:
        doc = service.explain(svc, ctx.scope, question)
    except ExplainError as exc:
        raise bad(str(exc)) from exc
    return doc | {"context": ctx.echo(flow=flow)}
