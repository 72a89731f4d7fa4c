"""The evidence service ``serve`` runs: the seal key, the sealer thread, packs and verdicts.

The key is checked against the store when the service is made, before anything listens: a
key that is not the store's current seal key is refused (lineage/evidence/keyring.py), and
on a sealed store a missing key file is not silently replaced by a new key.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from collector.store import Store
from collector.store.errors import StoreError
from collector.store.lease import Lease
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.service import Lineage
from lineage.evidence import pack
from lineage.evidence.errors import NotSealed, SpansScopes, VerificationFailed, WrongSealKey
from lineage.evidence.keyring import check_key
from lineage.evidence.keys import KEY_FILE, ensure_key, fingerprint, public_pem
from lineage.evidence.metrics import SealMetrics
from lineage.evidence.sealer import Sealer, latest_seal
from lineage.evidence.settings import EvidenceSettings
from lineage.evidence.verify import verify_pack

log = logging.getLogger(__name__)


class EvidenceService:
    """Sealing and evidence over one store with one seal key."""

    def __init__(
        self,
        settings: EvidenceSettings,
        store: Store,
        key: Ed25519PrivateKey | None = None,
        lease: Lease | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        """``lease``: seal only while holding it (several processes on one store); ``registry``:
        where the sealer's metrics go (lineage/evidence/metrics.py), else a registry of its own."""
        self.settings = settings
        self.store = store
        self.created_key = False
        self.key_path: Path | None = None
        if key is None:
            default = settings.data_dir / KEY_FILE
            if settings.seal_key is None and not default.exists():
                check_key(store, None, default)  # a sealed store never gets a fresh key unasked
            key, self.key_path, self.created_key = ensure_key(settings.seal_key, settings.data_dir)
        self.key = key
        self.public = key.public_key()
        self.fingerprint = fingerprint(self.public)
        check_key(store, self.fingerprint, self.key_path)
        self.sealer = Sealer(
            store, key, settings.seal_interval_s, settings.seal_margin_s, lease, metrics=SealMetrics(registry)
        )

    def start(self) -> None:
        """Seal every interval from now on."""
        self.sealer.start()

    def stop(self) -> None:
        """Stop the sealing thread."""
        self.sealer.stop()

    def final_seal(self) -> None:
        """Seal what the stopped collector committed last (best effort: the next start seals it).

        Only the lease holder seals; the lease is given up afterwards either way."""
        try:
            if self.sealer.leading:
                self.sealer.seal_now()
        except StoreError:
            log.warning("the last seal failed; the next start seals those hops", exc_info=True)
        except WrongSealKey as exc:
            log.error("%s", exc)
        finally:
            self.sealer.release()

    def latest(self) -> dict[str, Any] | None:
        """The newest seal as JSON, or None."""
        seal = latest_seal(self.store)
        return seal.to_json() if seal else None

    def public_key(self) -> dict[str, str]:
        """The public key and its fingerprint."""
        return {"public_key": public_pem(self.public), "fingerprint": self.fingerprint, "algorithm": "Ed25519"}

    def pack(self, lineage: Lineage, cid: str, scope: Scope = EVERYTHING) -> dict[str, Any] | None:
        """The evidence pack of ``cid`` (None: unknown; NotSealed: not all hops sealed yet)."""
        return pack.build_pack(self.store, lineage, cid, self.public, scope)

    def status(self, lineage: Lineage, cid: str, scope: Scope = EVERYTHING) -> dict[str, Any]:
        """Sealed and verified? Builds the pack and verifies it as an auditor would."""
        out = pack.seal_status(self.store, cid)
        out.update(verified=False, check=None)
        if not out["fully_sealed"]:
            return out
        try:
            built = self.pack(lineage, cid, scope)
            if built is not None:
                verify_pack(built, public_pem(self.public))
                out["verified"] = True
        except NotSealed:
            out["fully_sealed"] = False
        except SpansScopes as exc:
            out["check"] = str(exc)
        except VerificationFailed as exc:
            out["check"] = str(exc)
        return out
