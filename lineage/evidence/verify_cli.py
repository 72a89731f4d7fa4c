"""``ledgerline verify``: a pack offline against a trusted public key, the store's seal chain
(``--store``, with its close certificates and optional anchors), or the rollups and the
open-transactions index against the hops (``--rollups``); 0 valid, 1 failed (named), 2 usage."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from collector.store.errors import ConfigError
from lineage.apiclient import fail
from lineage.evidence.errors import VerificationFailed
from lineage.evidence.keys import KEY_FILE, PUB_FILE, load_private, load_public, public_pem
from lineage.evidence.queries import TABLE_EXISTS
from lineage.evidence.settings import EvidenceSettings


def store_key(settings: EvidenceSettings) -> tuple[Any, Path]:
    """The public seal key of the data directory (``LEDGERLINE_SEAL_KEY``, else seal.pub or
    seal.key there) and where it came from; never created here."""
    if settings.seal_key:
        return load_private(settings.seal_key).public_key(), settings.seal_key
    for name, load in ((PUB_FILE, load_public), (KEY_FILE, lambda p: load_private(p).public_key())):
        path = settings.data_dir / name
        if path.exists():
            return load(path), path
    raise ConfigError(
        f"no seal key in {settings.data_dir} (neither {PUB_FILE} nor {KEY_FILE}) and LEDGERLINE_SEAL_KEY is not "
        "set: point LEDGERLINE_DATA_DIR or LEDGERLINE_SEAL_KEY at the server's key"
    )


def _trusted_key(args: argparse.Namespace) -> Any:
    return load_public(args.public_key) if args.public_key else store_key(EvidenceSettings())[0]


def cmd_verify(args: argparse.Namespace) -> int:
    """Offline pack verification or store verification; 0 valid, 1 failed (named), 2 usage."""
    if bool(args.pack) + bool(args.store) + bool(args.rollups) != 1:
        return fail("verify", "give a pack file, --store or --rollups")
    if args.rollups:
        try:
            return _verify_rollups(args)
        except ConfigError as exc:
            return fail("verify", str(exc))
    if (args.anchor or args.anchor_file) and not args.store:
        return fail("verify", "--anchor and --anchor-file check the store's chain: add --store")
    try:
        public = _trusted_key(args)
        if args.store:
            return _verify_store(args, public)
        from lineage.evidence.verify import verify_pack

        try:
            pack = json.loads(args.pack.read_text())
        except (OSError, ValueError) as exc:
            return fail("verify", f"cannot read {args.pack}: {exc}")
        summary = verify_pack(pack, public_pem(public))
    except VerificationFailed as exc:
        print(f"FAILED {exc.check}: {exc.detail}")
        return 1
    except ConfigError as exc:
        return fail("verify", str(exc))
    print(summary.text())
    return 0


def _verify_rollups(args: argparse.Namespace) -> int:
    """Every covered rollup minute and every open-transactions row since ``--since`` against the
    hops: 0 equal, 1 the first difference of each."""
    from collector.store import open_existing
    from lineage.core import open_txns, rollups
    from lineage.core.timeparse import parse_instant, to_ms, utcnow

    now = utcnow()
    try:
        since_ms = to_ms(parse_instant(args.since or "7d", now))
    except ValueError as exc:
        return fail("verify", str(exc))
    settings = EvidenceSettings()
    store = open_existing(settings, "--rollups")
    try:
        if not rollups.exists(store) or not open_txns.exists(store):
            return fail("verify", "this store has no rollup yet: run `ledgerline migrate` (or start serve) first")
        report = rollups.verify(store, since_ms, to_ms(now))
        opened = open_txns.verify(store, since_ms, to_ms(now))
    finally:
        store.close()
    counted = f"{report.covered} covered minute(s) recomputed, {report.pending} not yet sealed (read raw)"
    if report.first is not None:
        print(f"FAILED rollups: {report.mismatches} row(s) differ; first: {report.first.text()}; {counted}")
    else:
        print(f"OK rollups: {counted}")
    if opened.first is not None:
        print(f"FAILED open transactions: {opened.mismatches} row(s) differ; first: {opened.first.text()}")
    else:
        print(f"OK open transactions: {opened.rows} row(s) recomputed")
    return 1 if report.first is not None or opened.first is not None else 0


def _verify_store(args: argparse.Namespace, public: Any) -> int:
    from collector.store import open_existing
    from lineage.core.timeparse import parse_instant, to_ms, utcnow
    from lineage.evidence.audit import verify_store

    settings = EvidenceSettings()
    try:
        since_ms = to_ms(parse_instant(args.since, utcnow())) if args.since else 0
    except ValueError as exc:
        return fail("verify", str(exc))
    anchors = _anchors(args)
    store = open_existing(settings, "--store")
    try:
        if not store.query(TABLE_EXISTS, {"name": "seals"})[0][0]:
            raise ConfigError("this store has no seal chain: run `ledgerline migrate` (or start serve) first")
        report = verify_store(
            store,
            public,
            since_ms=since_ms,
            margin_s=settings.seal_margin_s,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
            anchors=anchors,
        )
        certs = _verify_certificates(store, public)
    finally:
        store.close()
    for line in certs.decertified:
        print(f"decertified {line}")
    if certs.failures:
        for line in certs.failures:
            print(f"FAILED {line}")
        return 1
    rotated = f"; across {report.rotations} key rotation(s)" if report.rotations else ""
    anchored = f"; anchored seal(s) {', '.join(map(str, report.anchored))} in the chain" if report.anchored else ""
    print(
        f"OK {report.seals} seals ({report.first}-{report.latest}), {report.hops} hops recomputed; "
        f"latest seal hash {report.latest_hash}{rotated}{anchored}; {certs.checked} close certificate(s) checked"
    )
    return 0


def _verify_certificates(store: Any, public: Any) -> Any:
    """Every close certificate against the store (lineage/close/audit.py), with the chain's keys."""
    from lineage.close.audit import CertificateReport, verify_certificates
    from lineage.close.config import load_close
    from lineage.core.flows import load_flows
    from lineage.evidence.rotation import key_chain
    from lineage.evidence.sealer import stored_rotations

    if not store.query(TABLE_EXISTS, {"name": "close_signoffs"})[0][0]:
        return CertificateReport()  # a store from before close sign-offs
    keys = [public, *key_chain(stored_rotations(store)).keys]
    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    return verify_certificates(store, keys, load_close(load_flows()), progress)


_HASH = re.compile(r"[0-9a-fA-F]{64}")


def _anchor(text: str, where: str) -> str:
    """A seal hash from a bare hex line or a /api/v1/seals/latest JSON document."""
    text = text.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        text = str(doc.get("seal_hash", "")) if isinstance(doc, dict) else ""
    if not _HASH.fullmatch(text):
        raise ConfigError(f"{where} is not a seal hash (64 hex digits, or the JSON of /api/v1/seals/latest)")
    return text.lower()


def _anchors(args: argparse.Namespace) -> list[str]:
    anchors = [_anchor(a, f"--anchor {a[:20]!r}") for a in args.anchor]
    if args.anchor_file:
        try:
            text = args.anchor_file.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read {args.anchor_file}: {exc.strerror}") from exc
        lines = [line for line in text.splitlines() if line.strip()]
        if text.lstrip().startswith("{") and not all(line.lstrip().startswith("{") for line in lines):
            lines = [text]  # one pretty-printed JSON document
        anchors += [_anchor(line, f"line {i} of {args.anchor_file}") for i, line in enumerate(lines, start=1)]
        if not lines:
            raise ConfigError(f"{args.anchor_file} holds no seal hash")
    return anchors
