"""RFC 9162 (Certificate Transparency v2) Merkle trees over SHA-256. Pure.

Leaf hash ``H(0x00 || leaf)``, node hash ``H(0x01 || left || right)``; the tree of n leaves
splits at the largest power of two below n. Built level by level, a lone last node moves
up unchanged, which yields exactly that tree; inclusion proofs are the RFC's PATH and are
checked with the verification algorithm of RFC 9162 §2.1.3.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root level last."""
    level = list(leaf_hashes)
    out = [level]
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        out.append(nxt)
        level = nxt
    return out


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of the leaves (SHA-256 of nothing for no leaves)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return levels(leaf_hashes)[-1][0]


def inclusion_proof(tree: list[list[bytes]], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in a tree given by :func:`levels`."""
    if not 0 <= index < len(tree[0]):
        raise IndexError(f"leaf {index} is not in a tree of {len(tree[0])}")
    path = []
    for level in tree[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place leaf hash ``leaf`` at ``index`` of a tree with ``expected_root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
