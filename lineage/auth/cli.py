"""``ledgerline token create|list|revoke``: manage API tokens.

Without a credential the command opens the store itself (the normal case before the first
token exists, and with a ClickHouse server). The embedded store can be opened by one
process only, so while ``ledgerline serve`` holds it, pass an admin token (``--token`` or
``$LEDGERLINE_API_TOKEN``) and the command goes through the API's ``/api/v1/tokens``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from collector.store.errors import LedgerlineError, StoreError, StoreLocked
from lineage.apiclient import TOKEN_ENV, add_client_options, api_detail, auth_headers
from lineage.auth.local import local_actor, record_local
from lineage.auth.principal import ROLES
from lineage.auth.routes import expiry
from lineage.core.timeparse import utcnow


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``token`` with its ``create``, ``list`` and ``revoke`` sub-commands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "token", help="create, list and revoke API tokens", description=__doc__
    )
    sub = parser.add_subparsers(dest="token_command", required=True)
    create = sub.add_parser("create", help="create a token and print it (once)")
    create.add_argument("--subject", required=True, help="who the token stands for, e.g. alice@corp.example")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--legal-entity", action="append", default=[], help="limit to a legal entity (repeatable)")
    create.add_argument("--region", action="append", default=[], help="limit to a region (repeatable)")
    create.add_argument("--expires", default="90d", help="lifetime, e.g. 90d or 12h, or 'never' (default 90d)")
    listing = sub.add_parser("list", help="list tokens (never their secrets)")
    revoke = sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", help="token id (the 16 hex digits after llt_)")
    for p in (create, listing, revoke):
        p.add_argument("--json", action="store_true", help="print JSON")
        add_client_options(p)
        p.set_defaults(func=run)
    return parser


class Backend(Protocol):
    def create(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def list(self) -> list[dict[str, Any]]: ...
    def revoke(self, token_id: str) -> dict[str, Any] | None: ...
    def close(self) -> None: ...


class Direct:
    """The token table, opened in this process."""

    def __init__(self, migrate_store: Callable[[Any], object], command: str) -> None:
        """Open the store and bring it up to date with the composition root's registry; only
        ``create`` (the first admin token, before serve ever ran) makes a store where there is none."""
        from collector.settings import StoreSettings
        from collector.store import open_existing, open_store
        from lineage.auth.tokens import TokenStore

        settings = StoreSettings()
        try:
            self.store = open_store(settings) if command == "create" else open_existing(settings, f"token {command}")
            migrate_store(self.store)
        except StoreLocked:
            raise  # it already names the holder and what to do
        except StoreError as exc:
            raise LedgerlineError(
                f"{exc}. If `ledgerline serve` holds the embedded store, pass --token (or set {TOKEN_ENV}) "
                "with an admin token to manage tokens through the API"
            ) from exc
        self.tokens = TokenStore(self.store)
        self.actor = local_actor()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        record, token = self.tokens.create(
            body["subject"],
            body["role"],
            body["legal_entities"],
            body["regions"],
            expiry(body["expires"]),
            created_by=self.actor,
        )
        record_local(self.store, "token.create", record.id, self.actor, "cli", "ledgerline token create")
        return record.public(utcnow()) | {"token": token}

    def list(self) -> list[dict[str, Any]]:
        now = utcnow()
        return [t.public(now) for t in self.tokens.list()]

    def revoke(self, token_id: str) -> dict[str, Any] | None:
        record = self.tokens.revoke(token_id, by=self.actor)
        if record is not None:
            record_local(self.store, "token.revoke", token_id, self.actor, "cli", "ledgerline token revoke")
        return record.public(utcnow()) if record else None

    def close(self) -> None:
        self.store.close()


class Remote:
    """The API's admin routes, with an admin token."""

    def __init__(self, api: str, token: str) -> None:
        self.api = api.rstrip("/")
        self.client = httpx.Client(base_url=self.api, headers=auth_headers(token), timeout=15)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise LedgerlineError(f"cannot reach the lineage API at {self.api}: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise LedgerlineError(f"the API refused: {api_detail(response)} (HTTP {response.status_code})")
        return response.json()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._call("POST", "/api/v1/tokens", body)
        return created

    def list(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = self._call("GET", "/api/v1/tokens")["tokens"]
        return tokens

    def revoke(self, token_id: str) -> dict[str, Any] | None:
        revoked: dict[str, Any] | None = self._call("DELETE", f"/api/v1/tokens/{quote(token_id, safe='')}")
        return revoked

    def close(self) -> None:
        self.client.close()


def run(args: argparse.Namespace) -> int:
    """0 on success, 1 for an unknown token id, 2 on errors (one line, no traceback)."""
    try:
        if args.token_command == "create":
            expiry(args.expires)  # refuse a bad duration before touching anything
        backend: Backend = (
            Remote(args.api, args.token) if args.token else Direct(args.migrate_store, args.token_command)
        )
    except (LedgerlineError, ValueError) as exc:
        print(f"ledgerline token: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, backend)
    except (LedgerlineError, ValueError) as exc:
        print(f"ledgerline token: {exc}", file=sys.stderr)
        return 2
    finally:
        backend.close()


def _run(args: argparse.Namespace, backend: Backend) -> int:
    if args.token_command == "create":
        body = {
            "subject": args.subject,
            "role": args.role,
            "legal_entities": args.legal_entity,
            "regions": args.region,
            "expires": args.expires,
        }
        created = backend.create(body)
        if args.json:
            print(json.dumps(created, indent=2))
        else:
            print(created["token"])
            print(
                f"token {created['id']} for {created['subject']} ({created['role']}), expires "
                f"{created['expires_at'] or 'never'}; it is shown only now: store it safely",
                file=sys.stderr,
            )
        return 0
    if args.token_command == "list":
        tokens = backend.list()
        if args.json:
            print(json.dumps(tokens, indent=2))
        else:
            for t in tokens:
                scope = ",".join(t["legal_entities"] + t["regions"]) or "*"
                print(
                    f"{t['id']}  {t['state']:<8} {t['role']:<9} {t['subject']}  scope={scope}  "
                    f"expires={t['expires_at'] or 'never'}"
                )
        return 0
    revoked = backend.revoke(args.id)
    if revoked is None:
        print(f"ledgerline token: no token {args.id}", file=sys.stderr)
        return 1
    print(json.dumps(revoked, indent=2) if args.json else f"revoked {revoked['id']} ({revoked['subject']})")
    return 0
