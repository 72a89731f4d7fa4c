"""The API's answers to errors of the layers below: a StoreError from any route (lineage,
alerts, evidence, replay) is a 503 with ``Retry-After``, never a 500."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from collector.store.errors import QueryTimeout

# Every 503 of the API carries this: a store hiccup is worth retrying, not a bug.
RETRY_AFTER = {"Retry-After": "2"}


def store_error(_: Request, exc: Exception) -> JSONResponse:
    """The one answer to a StoreError raised by any route."""
    what = "the store did not answer in time" if isinstance(exc, QueryTimeout) else "the store is unavailable"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return JSONResponse(status_code=503, content={"detail": f"{what}: {first}"}, headers=RETRY_AFTER)
