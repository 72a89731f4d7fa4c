"""RFC 6962 / 9162 Merkle trees: the Certificate Transparency reference vectors and proofs."""

from __future__ import annotations

import pytest

from lineage.evidence import merkle

# The reference leaves and roots of the Certificate Transparency test suite (RFC 6962).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path) from the same suite.
PROOFS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
]  # fmt: skip
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_the_reference(size: int) -> None:
    assert merkle.root(HASHES[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), PROOFS)
def test_proofs_match_the_reference(index: int, size: int, path: list[str]) -> None:
    tree = merkle.levels(HASHES[:size])
    assert [p.hex() for p in merkle.inclusion_proof(tree, index)] == path
    root = bytes.fromhex(ROOTS[size])
    assert merkle.verify_inclusion(HASHES[index], index, size, [bytes.fromhex(p) for p in path], root)


def test_every_proof_verifies_and_every_flipped_bit_fails() -> None:
    for size in range(1, 40):
        hashes = [merkle.leaf_hash(bytes([i, i * 7 % 256])) for i in range(size)]
        tree = merkle.levels(hashes)
        root = tree[-1][0]
        for index in range(size):
            proof = merkle.inclusion_proof(tree, index)
            assert merkle.verify_inclusion(hashes[index], index, size, proof, root)
            if size > 1:
                assert not merkle.verify_inclusion(hashes[index], (index + 1) % size, size, proof, root)
            for k in range(len(proof)):
                bad = list(proof)
                bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
                assert not merkle.verify_inclusion(hashes[index], index, size, bad, root)
            flipped_leaf = bytes([hashes[index][0] ^ 0x80]) + hashes[index][1:]
            assert not merkle.verify_inclusion(flipped_leaf, index, size, proof, root)
            assert not merkle.verify_inclusion(hashes[index], index, size, [*proof, root], root)


def test_the_verifier_needs_no_store_and_no_network() -> None:
    import subprocess
    import sys

    # Allowed of collector: the error tree's base and the (lazy) store package that holds it, and
    # the one YAML reader (the pack's flows file is read with it). No driver, client or server.
    allowed = "('collector', 'collector.errors', 'collector.store', 'collector.store.errors', 'collector.config')"
    probe = (
        "import sys, lineage.evidence.verify as v; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"('clickhouse_connect', 'chdb', 'httpx', 'grpc', 'collector') and m not in {allowed}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
