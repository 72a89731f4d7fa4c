"""Tamper evidence: hops sealed into signed Merkle trees, evidence packs and their verification.

Pure modules (no store, no network): :mod:`canonical`, :mod:`merkle`, :mod:`record`,
:mod:`rotation`, :mod:`keys`, :mod:`verify`. Store-side: :mod:`schema`, :mod:`queries`,
:mod:`sealer`, :mod:`keyring`, :mod:`pack`, :mod:`audit`, :mod:`retention`. Edges: :mod:`api`, :mod:`cli`. The format is
documented in docs/evidence.md.
"""
