"""The base of ledgerline's one error tree, and the store API's errors.

Every error ledgerline raises on purpose is a :class:`LedgerlineError`; each component keeps
its own errors in its package, under this base::

    LedgerlineError
    ├── ConfigError               settings or a file that cannot work          (here)
    │   ├── FlowConfigError       the flows file                                (lineage/core/flows.py)
    │   ├── TargetsError          the replay targets file                       (lineage/replay/targets.py)
    │   └── RuleError             alert rules and receivers                     (alerts/errors.py)
    ├── StoreError                the store refused or failed a statement       (here)
    │   ├── StoreUnavailable      the store cannot be reached, a table offline
    │   │   └── StoreLocked       another process holds the embedded store
    │   └── QueryTimeout          a bounded query ran past its time limit
    ├── RenderError               a statement the cluster renderer cannot place (collector/store/cluster.py)
    ├── IngestError               an OTLP request refused as a whole            (collector/errors.py)
    ├── AuthError                 an API credential refused (401)               (lineage/auth/errors.py)
    │   └── AccessDenied          a valid credential that grants no role (403)
    ├── EvidenceError             sealing or evidence failed                    (lineage/evidence/errors.py)
    │   └── VerificationFailed    a pack or the store does not verify; names the check
    ├── ReplayError               a replay refused or unknown                   (lineage/replay/errors.py)
    └── DeliveryError             a receiver refused a notification             (alerts/errors.py)

This module imports nothing, and importing it (or ``collector.store``'s errors) never loads the
ClickHouse driver, so the offline evidence verifier stays light. Lower-layer errors
(clickhouse-connect, chdb, protobuf, zlib) are mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = ["ConfigError", "LedgerlineError", "QueryTimeout", "StoreError", "StoreLocked", "StoreUnavailable"]


class LedgerlineError(Exception):
    """Base class of every error ledgerline raises on purpose."""


class ConfigError(LedgerlineError):
    """Settings that cannot work, such as an unsafe bind address or an unreadable file."""


class StoreError(LedgerlineError):
    """The store refused or failed a statement."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, or a table it needs is offline."""


class StoreLocked(StoreUnavailable):
    """Another process holds the embedded store (chdb opens a data directory in one process only)."""


class QueryTimeout(StoreError):
    """A bounded query ran past its time limit."""
