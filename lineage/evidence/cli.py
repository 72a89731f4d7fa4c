"""``ledgerline keys init``, ``keys rotate``, ``seal``, ``evidence`` and ``verify``.

``seal`` and ``evidence`` talk to the lineage API while ``serve`` runs (it owns the embedded
store), with the bearer token from ``--token`` or ``$LEDGERLINE_API_TOKEN``; when nothing
answers there they say so (one line, exit 2) and open nothing. ``--store`` opens an existing
store instead (serve stopped); a read (``evidence``) never creates a store or a seal key.
``verify`` (lineage/evidence/verify_cli.py, registered here) checks a pack offline against a
trusted public key, or the store. ``keys rotate`` writes a rotation record into the store
directly (serve stopped).
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from collector.store import embedded_path, owner
from collector.store.errors import LedgerlineError
from lineage.apiclient import add_client_options, auth_headers, fail, refusal
from lineage.evidence.keys import KEY_FILE, fingerprint, init_keys, load_private, load_public
from lineage.evidence.settings import EvidenceSettings
from lineage.evidence.verify_cli import cmd_verify, store_key


def register(subparsers: Any) -> None:
    """Add the ``keys``, ``seal``, ``evidence`` and ``verify`` sub-commands."""
    keys = subparsers.add_parser("keys", help="manage the Ed25519 seal key")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    init = keys_sub.add_parser("init", help="create seal.key (mode 0600) and seal.pub")
    init.add_argument("--dir", type=Path, help="directory (default: the data directory, LEDGERLINE_DATA_DIR)")
    init.set_defaults(func=cmd_keys_init)
    rotate = keys_sub.add_parser(
        "rotate", help="hand sealing over to a new key: a rotation record signed by the old and the new key"
    )
    rotate.add_argument("--old-key", type=Path, required=True, help="the current seal key (private, PEM)")
    rotate.add_argument("--new-key", type=Path, required=True, help="the key to seal with from now on (keys init)")
    rotate.set_defaults(func=cmd_keys_rotate)

    seal = subparsers.add_parser("seal", help="seal the hops stored since the last seal, now")
    _add_source(seal)
    seal.set_defaults(func=cmd_seal)

    evidence = subparsers.add_parser("evidence", help="export a transaction's evidence pack")
    evidence.add_argument("correlation_id")
    evidence.add_argument("--out", type=Path, required=True, help="where to write the pack (JSON)")
    _add_source(evidence)
    evidence.set_defaults(func=cmd_evidence)

    verify = subparsers.add_parser(
        "verify", help="verify an evidence pack offline, or every seal against the store (--store)"
    )
    verify.add_argument("pack", nargs="?", type=Path, help="evidence pack (JSON)")
    verify.add_argument("--public-key", type=Path, help="trusted seal.pub (default: the data directory's)")
    verify.add_argument("--store", action="store_true", help="recompute every seal from the stored hops")
    verify.add_argument(
        "--rollups",
        action="store_true",
        help="recompute every rollup and open-transactions row of the window from the hops",
    )
    verify.add_argument(
        "--since",
        help="with --store: seals whose window ends after this; with --rollups: the window's start "
        "(default 7d) (ISO-8601 or e.g. 30d)",
    )
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        help="with --store: a seal hash kept outside ledgerline (from `seal` or /api/v1/seals/latest); "
        "fails when that seal is not in the chain (repeatable)",
    )
    verify.add_argument(
        "--anchor-file",
        type=Path,
        help="with --store: a file of kept seal hashes (one per line, or /api/v1/seals/latest JSON documents)",
    )
    verify.set_defaults(func=cmd_verify)


def _add_source(parser: argparse.ArgumentParser) -> None:
    add_client_options(parser)
    parser.add_argument("--store", action="store_true", help="open the store directly (serve must not be running)")
    parser.add_argument("--timeout", type=float, default=60.0, help="HTTP timeout in seconds")


def cmd_keys_init(args: argparse.Namespace) -> int:
    """Create a key pair; refuses to overwrite."""
    directory = args.dir or EvidenceSettings().data_dir
    key_path, pub_path = init_keys(directory)
    print(f"created {key_path} (mode 0600) and {pub_path}")
    print(f"fingerprint {fingerprint(load_public(pub_path))}")
    print(f"set LEDGERLINE_SEAL_KEY={key_path.resolve()} to use it (default: <data dir>/{KEY_FILE})")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Write a rotation record: the old key hands sealing over to the new one after the latest seal."""
    from collector.store import open_existing
    from lineage.evidence.keyring import rotate

    old, new = load_private(args.old_key), load_private(args.new_key)
    store = open_existing(EvidenceSettings(), "keys rotate")
    try:
        signed = rotate(store, old, new)
    finally:
        store.close()
    r = signed.rotation
    print(
        f"rotation {r.rotation}: seal key {r.old_fingerprint} hands over to {r.new_fingerprint} after seal "
        f"{r.after_sequence} (seal hash {r.seal_hash.hex()}); rotation hash {r.hash.hex()}"
    )
    print(f"start serve with LEDGERLINE_SEAL_KEY={args.new_key.resolve()}; keep the old seal.pub for older packs")
    return 0


def _api(args: argparse.Namespace, method: str, path: str) -> httpx.Response | None:
    """The API's answer; None with ``--store`` (the caller opens the store). Nothing listening
    there is a LedgerlineError saying how to point at the API: no store is opened instead."""
    if args.store:
        return None
    try:
        url = args.api.rstrip("/") + path
        return httpx.request(method, url, headers=auth_headers(args.token), timeout=args.timeout)
    except httpx.ConnectError:
        raise LedgerlineError(_unreachable(args.api)) from None
    except httpx.HTTPError as exc:
        raise LedgerlineError(f"the lineage API at {args.api} did not answer ({type(exc).__name__}: {exc})") from None


def _unreachable(api: str) -> str:
    """Nothing listens at ``api``: how to point at the API (naming a serve that holds the store here)."""
    said = f"the lineage API at {api} is unreachable (nothing listens there)"
    path = embedded_path(EvidenceSettings().dsn)
    pid = owner.holder(path) if path is not None else None
    if pid is not None:
        who = owner.command_of(pid) or "a process"
        return (
            f"{said}, but {who} (process {pid}) holds the store at {path}: "
            f"pass the API URL it printed with --api (or set LEDGERLINE_API_URL)"
        )
    return (
        f"{said}: start `ledgerline serve`, pass its API URL with --api (or set LEDGERLINE_API_URL), "
        "or read a stopped server's store with --store"
    )


def _open() -> tuple[Any, Any]:
    """The existing store (not migrated here: serve and ``ledgerline migrate`` do that) and the
    evidence service with its seal key."""
    from collector.store import open_existing
    from lineage.evidence.service import EvidenceService

    settings = EvidenceSettings()
    store = open_existing(settings, "--store")
    try:
        return store, EvidenceService(settings, store)
    except BaseException:
        store.close()
        raise


def cmd_seal(args: argparse.Namespace) -> int:
    """Seal now, through the API or the store."""
    try:
        return _seal(args)
    except LedgerlineError as exc:
        return fail("seal", str(exc))


def _seal(args: argparse.Namespace) -> int:
    response = _api(args, "POST", "/api/v1/seals")
    if response is not None:
        if response.status_code != 200:
            return fail("seal", refusal(response))
        body = response.json()
        made, seal = body["sealed"], body["seal"]
    else:
        store, service = _open()
        try:
            made = service.sealer.seal_now() is not None
            seal = service.latest()
        finally:
            store.close()
    if seal is None:
        print("nothing to seal: no hops stored")
    else:
        word = "sealed" if made else "nothing new to seal; latest is"
        print(f"{word} seal {seal['sequence']}: {seal['leaf_count']} hops, seal hash {seal['seal_hash']}")
    return 0


def cmd_evidence(args: argparse.Namespace) -> int:
    """Export a pack, through the API or (``--store``) an existing store; creates nothing but the pack."""
    try:
        path = f"/api/v1/transactions/{quote(args.correlation_id, safe='')}/evidence"
        response = _api(args, "GET", path)
        if response is not None:
            if response.status_code != 200:
                return fail("evidence", refusal(response), 1 if response.status_code in (404, 409) else 2)
            pack = response.json()
        else:
            found = _pack_from_store(args.correlation_id)
            if isinstance(found, str):
                return fail("evidence", found, 1)
            pack = found
    except LedgerlineError as exc:
        return fail("evidence", str(exc))
    args.out.write_text(json.dumps(pack, indent=1))
    print(f"wrote {args.out}: {len(pack['hops'])} hops, {len(pack['seals'])} seals, key {pack['key_fingerprint']}")
    return 0


def _pack_from_store(cid: str) -> dict[str, Any] | str:
    """The pack built from the existing store with its seal key's public half (never a new key
    or store), or why there is none (not sealed yet, unknown)."""
    from collector.store import open_existing
    from lineage.core.flows import load_flows
    from lineage.core.service import Lineage
    from lineage.evidence.errors import NotSealed
    from lineage.evidence.keyring import check_key
    from lineage.evidence.pack import build_pack, record_export
    from lineage.replay.document import replays_of
    from lineage.settings import LineageSettings

    settings = EvidenceSettings()
    store = open_existing(settings, "--store")
    try:
        public, where = store_key(settings)
        check_key(store, fingerprint(public), where)
        lineage_settings = LineageSettings()
        lineage = Lineage(lineage_settings, store, load_flows(lineage_settings.flows), replays=replays_of(store))
        try:
            pack = build_pack(store, lineage, cid, public)
        except NotSealed as exc:
            return f"{exc} (run ledgerline seal)"
        if pack is None:
            return f"no hops stored for {cid!r}"
        record_export(store, f"local:{getpass.getuser()}", "admin", pack)
        return pack
    finally:
        store.close()
