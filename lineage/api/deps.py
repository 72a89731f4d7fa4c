"""The API's dependencies (as full-stack-fastapi-template's ``api/deps.py``): the lineage
service, windows, buckets and flows parsed from query parameters, shared by every router.

A bad parameter is a 422 naming the problem; none of these touch the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Query, Request

from lineage.core.flows import Flow
from lineage.core.service import Lineage
from lineage.core.timeparse import parse_duration, parse_instant, to_ms, utcnow
from lineage.core.window import Window

MAX_WINDOW_MS = 92 * 86400 * 1000
Status = Literal["complete", "in_flight", "stuck", "failed"]
GroupBy = Literal["system", "region", "legal_entity"]


def bad(message: str) -> HTTPException:
    """A 422 naming what is wrong with the request."""
    return HTTPException(status_code=422, detail=message)


def _service(request: Request) -> Lineage:
    svc: Lineage = request.app.state.lineage
    return svc


Svc = Annotated[Lineage, Depends(_service)]


def window_dep(default: str | None) -> Callable[..., Window]:
    """A dependency parsing since/until/limit; ``default`` since (None: the settings' window)."""

    def window(
        svc: Svc,
        since: Annotated[str | None, Query(description="ISO-8601 or a duration ago, e.g. 24h")] = None,
        until: Annotated[str | None, Query(description="ISO-8601 or a duration ago; default now")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100 if default is None else 5000,
    ) -> Window:
        now = utcnow()
        try:
            start = parse_instant(since or default or svc.settings.default_window, now)
            end = parse_instant(until, now) if until else now
        except ValueError as exc:
            raise bad(str(exc)) from None
        since_ms, until_ms = to_ms(start), to_ms(end)
        if until_ms <= since_ms:
            raise bad("'until' must be after 'since'")
        if until_ms - since_ms > MAX_WINDOW_MS:
            raise bad("the window may span 92 days at most")
        return Window(since_ms, until_ms, min(limit, svc.settings.query_max_rows))

    return window


# One dependency per default (listings: the settings' window; metrics: 24 hours; reconciliations:
# 7 days), shared by the window and the context dependencies so a request parses its window once.
WINDOWS = {default: window_dep(default) for default in (None, "24h", "7d")}
Win = Annotated[Window, Depends(WINDOWS[None])]
MetricsWin = Annotated[Window, Depends(WINDOWS["24h"])]
RecWin = Annotated[Window, Depends(WINDOWS["7d"])]


def bucket_ms(svc: Lineage, window: Window, bucket: str) -> int:
    """A bucket width in ms: at least 1 s and at most ``max_buckets`` of them in the window (else 422)."""
    try:
        ms = int(parse_duration(bucket).total_seconds() * 1000)
    except ValueError as exc:
        raise bad(str(exc)) from None
    if ms < 1000:
        raise bad("bucket must be at least 1s")
    if (window.until_ms - window.since_ms) / ms > svc.settings.max_buckets:
        raise bad(f"too many buckets: at most {svc.settings.max_buckets} per query; widen 'bucket'")
    return ms


def _bucket(svc: Svc, window: MetricsWin, bucket: Annotated[str, Query(description="e.g. 5m, 1h")] = "5m") -> int:
    return bucket_ms(svc, window, bucket)


BucketMs = Annotated[int, Depends(_bucket)]


def _flow(
    svc: Svc, flow: Annotated[str | None, Query(description="flow name; default flow if omitted")] = None
) -> Flow:
    if flow and flow not in svc.config.flows:
        raise bad(f"unknown flow {flow!r}; known: {', '.join(sorted(svc.config.flows))}")
    return svc.config.flow(flow)


FlowDep = Annotated[Flow, Depends(_flow)]
ExcId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="Stable exception id")]
