"""The authentication layer: an ASGI middleware that proves who calls ``/api/v1/*`` (401
before any routing or body parsing), and an app-level dependency that applies the
permission table (403) and marks the call for the access log."""

from __future__ import annotations

import logging
import string
from typing import Any

from anyio import to_thread
from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.store.errors import QueryTimeout, StoreError
from lineage.auth.audit import AccessEntry, AccessLog
from lineage.auth.authenticate import Authenticator
from lineage.auth.errors import AuthError
from lineage.auth.permissions import RULES, allowed
from lineage.auth.principal import Principal, current_principal
from lineage.auth.refusals import ACTION as REFUSED
from lineage.auth.refusals import RefusalLog
from lineage.auth.tokens import PREFIX, parse_token
from lineage.core.timeparse import utcnow

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
# Outside /api/v1 but guarded like it: business figures, scraped with a viewer token.
GUARDED = frozenset({"/metrics/business"})


def guarded(path: str) -> bool:
    """True when ``path`` needs a credential and a permission rule."""
    return path.startswith(API_PREFIX) or path in GUARDED


LOCAL_ADMIN = Principal("local", "admin", via="auth-off")
_AUDIT = "audit"
RETRY_AFTER_S = 2  # as the lineage app's own 503s (lineage/api/errors.py)


def _challenge(exc: AuthError) -> str:
    if not exc.error:
        return 'Bearer realm="ledgerline"'
    # error_description is a quoted-string: keep it to printable ASCII without quotes.
    text = "".join(ch for ch in str(exc) if ch in string.printable and ch not in '"\\\r\n')[:200]
    return f'Bearer realm="ledgerline", error="{exc.error}", error_description="{text}"'


class AuthMiddleware:
    """Sets ``scope["state"]["principal"]`` for ``/api/v1/*`` or answers 401/403 itself."""

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator | None, access_log: AccessLog, refusals: RefusalLog
    ) -> None:
        self.app = app
        self.authenticator = authenticator  # None: auth is off (loopback only)
        self.access_log = access_log
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._principal(scope)
        except AuthError as exc:
            client = (scope.get("client") or ("?",))[0]
            log.warning("%d %s %s from %s: %s", exc.status, scope["method"], scope["path"], client, exc)
            self.refusals.refused(_refusal(scope, exc))
            response = JSONResponse(
                {"detail": str(exc)}, status_code=exc.status, headers={"WWW-Authenticate": _challenge(exc)}
            )
            await response(scope, receive, send)
            return
        except StoreError as exc:  # the token table cannot be read: the caller may retry
            await self._unavailable(scope, exc)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            mark = state.get(_AUDIT)
            if mark is not None:
                self.access_log.append(_entry(scope, principal, mark, status))

    @staticmethod
    def _unavailable(scope: Scope, exc: StoreError) -> JSONResponse:
        """503 with Retry-After, and one log line (no traceback): the credential was not judged."""
        client = (scope.get("client") or ("?",))[0]
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("503 %s %s from %s: cannot check the credential: %s", scope["method"], scope["path"], client, first)
        what = "the store did not answer in time" if isinstance(exc, QueryTimeout) else "the store is unavailable"
        return JSONResponse(
            {"detail": f"{what}: cannot check the credential"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    async def _principal(self, scope: Scope) -> Principal:
        if self.authenticator is None:
            return LOCAL_ADMIN
        header = Headers(scope=scope).get("authorization")
        # The token table lives in the store: verify off the event loop.
        return await to_thread.run_sync(self.authenticator.authenticate, header)


def _entry(scope: Scope, principal: Principal, mark: dict[str, str], status: int) -> AccessEntry:
    client = scope.get("client")
    return AccessEntry(
        at=utcnow(),
        subject=principal.subject,
        role=principal.role,
        via=principal.via,
        action=mark["action"],
        target=mark["target"],
        method=scope["method"],
        path=scope["path"][:2000],
        client=client[0] if client else "",
        status=status,
        actor_scope=principal.scope,
    )


def _refusal(scope: Scope, exc: AuthError) -> AccessEntry:
    """A refused call: who it claimed to be (an API token's id, never its secret) and why."""
    client = scope.get("client")
    credential = (Headers(scope=scope).get("authorization") or "").strip().partition(" ")[2].strip()
    parsed = parse_token(credential) if credential.startswith(PREFIX) else None
    via = f"token:{parsed[0]}" if parsed else ("none" if not credential else "unrecognised")
    return AccessEntry(
        at=utcnow(),
        subject="",
        role="",
        via=via,
        action=REFUSED,
        target=str(exc)[:200],
        method=scope["method"],
        path=scope["path"][:2000],
        client=client[0] if client else "",
        status=exc.status,
        scopes=(("*", "*"),),  # nobody's data: only unrestricted auditors see refusals
    )


async def authorize(request: Request) -> None:
    """App-level dependency: the permission table for the matched route (fail closed)."""
    route: Any = request.scope.get("route")
    template = getattr(route, "path", "")
    if not guarded(template):
        return
    principal = current_principal(request)
    rule = RULES.get((request.method, template))
    if rule is None:
        log.error("no permission rule for %s %s: refused", request.method, template)
        raise HTTPException(403, f"no permission rule for {request.method} {template}")
    if rule.action:
        params = {k: str(v) for k, v in request.path_params.items()}
        target = rule.target.format_map(params) if rule.target else ""
        request.state.audit = {"action": rule.action, "target": target}
    if not allowed(principal.role, rule.permission):
        raise HTTPException(403, f"role {principal.role!r} lacks the {rule.permission!r} permission")


def set_audit_target(request: Request, target: str) -> None:
    """A route names what it created (a new silence or token id) for the access log."""
    mark = getattr(request.state, _AUDIT, None)
    if isinstance(mark, dict):
        mark["target"] = target
