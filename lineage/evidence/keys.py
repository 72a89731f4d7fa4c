"""Ed25519 seal keys: create, load, sign, fingerprint. Pure apart from reading key files.

The fingerprint of a public key is the hex SHA-256 of its 32 raw bytes (RFC 8032
encoding); seals carry it, packs show it, ``serve`` prints it at start.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from collector.store.errors import ConfigError

KEY_FILE = "seal.key"
PUB_FILE = "seal.pub"


def raw_public(public: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public(public)).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM."""
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")


def parse_public(pem: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text; ConfigError for anything else."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError("the public key is not an Ed25519 key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file (seal.pub)."""
    try:
        return parse_public(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read public key {path}: {exc.strerror}") from exc


def load_private(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file, refused if others may read it."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read seal key {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ConfigError(f"seal key {path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"seal key {path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"seal key {path} is not an Ed25519 key")
    return key


def init_keys(directory: Path) -> tuple[Path, Path]:
    """Create ``seal.key`` (mode 0600) and ``seal.pub`` in ``directory``; never overwrite."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = directory / KEY_FILE, directory / PUB_FILE
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"{key_path} exists; refusing to overwrite a seal key") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    pub_path.write_text(public_pem(private.public_key()))
    return key_path, pub_path


def ensure_key(configured: Path | None, data_dir: Path) -> tuple[Ed25519PrivateKey, Path, bool]:
    """The configured key, or the data directory's (created on first start); True if created."""
    if configured is not None:
        return load_private(configured), configured, False
    path = data_dir / KEY_FILE
    created = False
    if not path.exists():
        init_keys(data_dir)
        created = True
    return load_private(path), path, created


def verify_signature(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``public``'s signature of ``message``."""
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
