"""Access control of the lineage and alerts API: who is asking (API tokens, OIDC JWTs),
what their role may do (one permission table) and a record of what they did (access log).

:func:`install` wires it into an app before any route is added; :func:`lifespan` runs the
access-log writer for as long as the app serves.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI

from collector.store import Store
from lineage.auth.audit import AccessLog
from lineage.auth.authenticate import Authenticator
from lineage.auth.middleware import AuthMiddleware, authorize, set_audit_target
from lineage.auth.refusals import RefusalLog
from lineage.auth.settings import AuthSettings
from lineage.auth.targets import TargetResolver
from lineage.auth.tokens import TokenStore

log = logging.getLogger(__name__)


def install(app: FastAPI, settings: AuthSettings, store: Store) -> None:
    """Authentication, the permission table and the auth layer's state on ``app`` (call before
    including any router: the permission check is an app-level dependency)."""
    authenticator = Authenticator(settings, store) if settings.enabled else None
    access_log = AccessLog(store, settings.access_log_flush_s, resolver=TargetResolver(store))
    app.state.access_log = access_log
    app.state.tokens = TokenStore(store)
    app.state.authenticator = authenticator
    # App-level dependency: every route added from now on (alerts routes included) runs it first.
    app.router.dependencies.append(Depends(authorize))
    refusals = RefusalLog(access_log)
    app.add_middleware(AuthMiddleware, authenticator=authenticator, access_log=access_log, refusals=refusals)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the access-log writer while the app serves; write what is left on stop."""
    access_log: AccessLog = app.state.access_log
    access_log.start()
    try:
        yield
    finally:
        await to_thread.run_sync(access_log.stop)


__all__ = ["AuthSettings", "install", "lifespan", "set_audit_target"]
