"""The store API: one client for the embedded engine and a ClickHouse server.

``chdb:///path`` opens the embedded ClickHouse engine in this process (clickhouse-connect's
chdb backend); ``http(s)://host:8123`` talks to a server. The SQL, the parameter binding
and the result types are the same in both modes.

Every statement goes through the driver's parameter binding (``{name:Type}``); callers
never format input into SQL. Read queries carry a time limit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from collector.store import owner, queries
from collector.store.errors import ConfigError, QueryTimeout, StoreError, StoreLocked, StoreUnavailable
from collector.store.settings import StoreSettings

log = logging.getLogger(__name__)

# ClickHouse error codes that mean "try again later" rather than "your statement is wrong".
_UNAVAILABLE_CODES = {"Code: 60.", "Code: 81.", "Code: 210.", "Code: 209.", "Code: 242.", "Code: 999."}
_TIMEOUT_CODES = {"Code: 159.", "Code: 394."}


def _map_error(exc: Exception, what: str) -> StoreError:
    text = str(exc)
    if any(code in text for code in _TIMEOUT_CODES):
        return QueryTimeout(f"{what}: query ran past its time limit")
    if isinstance(exc, OperationalError) or any(code in text for code in _UNAVAILABLE_CODES):
        return StoreUnavailable(f"{what}: {text.splitlines()[0] if text else type(exc).__name__}")
    return StoreError(f"{what}: {text.splitlines()[0] if text else type(exc).__name__}")


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    try:
        yield
    except StoreError:
        raise
    except (ClickHouseError, OSError, RuntimeError) as exc:
        raise _map_error(exc, what) from exc


@dataclass(frozen=True)
class Bounded:
    """At most ``limit`` rows of a read, and whether more matched (datasette's ``truncated``)."""

    rows: list[dict[str, Any]]
    truncated: bool


class Store:
    """A ClickHouse database reached through clickhouse-connect, one client per thread."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.dsn = settings.dsn
        self.database = settings.clickhouse_database
        self.embedded = self.dsn.startswith("chdb:")
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()
        if self.embedded:
            self._refuse_if_held()
        self._ensure_database()

    # -- connections -------------------------------------------------------------------
    def _connect(self, database: str | None) -> Client:
        with _mapped(f"cannot open the store at {self._redacted_dsn()}"):
            extra: dict[str, Any] = {}
            if not self.embedded:  # HTTP transport options; chdb has no meaning for them
                extra = {"autogenerate_session_id": False, "send_receive_timeout": 60}
            client = clickhouse_connect.get_client(dsn=self.dsn, database=database, **extra)
        with self._lock:
            self._clients.append(client)
        return client

    def _refuse_if_held(self) -> None:
        """One line naming the holder, before chdb prints its own lock errors to stderr."""
        path = embedded_path(self.dsn)
        assert path is not None  # called for an embedded store only
        pid = owner.holder(path)
        if pid is not None:
            raise StoreLocked(owner.held_message(path, pid))

    def _ensure_database(self) -> None:
        bootstrap = self._connect(None)
        with _mapped("cannot create the database"):
            bootstrap.command("CREATE DATABASE IF NOT EXISTS {db:Identifier}", parameters={"db": self.database})

    def _redacted_dsn(self) -> str:
        if "@" in self.dsn and "://" in self.dsn:
            scheme, rest = self.dsn.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return self.dsn

    @property
    def client(self) -> Client:
        """This thread's client, opened on first use."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._connect(self.database)
            self._local.client = client
        return client

    # -- statements --------------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run a statement that returns no rows (DDL, ALTER, INSERT ... SELECT)."""
        with _mapped("statement failed"):
            return self.client.command(sql, parameters=parameters)

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run a bounded read query and return its rows as tuples."""
        return self.query_columns(sql, parameters, timeout_s=timeout_s)[1]

    def query_columns(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a bounded read query and return (column names, rows)."""
        limit = timeout_s or self.settings.query_timeout_s
        settings: dict[str, Any] = {"max_execution_time": max(1, int(limit)), "timeout_overflow_mode": "throw"}
        tag = getattr(self._local, "tag", None)
        if tag:
            settings["log_comment"] = tag
        with _mapped("query failed"):
            result = self.client.query(sql, parameters=parameters, settings=settings)
        return list(result.column_names), [tuple(row) for row in result.result_rows]

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None, *, timeout_s: float | None = None
    ) -> list[dict[str, Any]]:
        """Run a bounded read query and return its rows as dicts."""
        names, rows = self.query_columns(sql, parameters, timeout_s=timeout_s)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def query_bounded(
        self,
        sql: str,
        parameters: dict[str, Any],
        limit: int,
        *,
        limit_param: str = "limit",
        timeout_s: float | None = None,
    ) -> Bounded:
        """At most ``limit`` rows as dicts, and whether more matched: the query's ``LIMIT``
        parameter (``limit_param``) is bound to ``limit + 1`` so one extra row tells."""
        rows = self.query_dicts(sql, {**parameters, limit_param: limit + 1}, timeout_s=timeout_s)
        return Bounded(rows[:limit], len(rows) > limit)

    @contextmanager
    def cancellable(self, tag: str) -> Iterator[None]:
        """Mark the read queries this thread runs inside with ``tag``, so :meth:`cancel` can stop them."""
        self._local.tag = tag
        try:
            yield
        finally:
            self._local.tag = None

    def cancel(self, tag: str) -> None:
        """Stop the read queries marked ``tag`` that are running now (best effort, without waiting):
        they fail with a StoreError. Statements that write are never marked."""
        with contextlib.suppress(StoreError):
            self.command(queries.KILL_TAGGED, {"tag": tag})

    def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert rows in one block; returns only once ClickHouse has committed them."""
        with _mapped(f"insert into {table} failed"):
            self.client.insert(table, rows, column_names=list(column_names), settings=settings)

    def insert_raw(self, table: str, data: bytes, fmt: str, settings: dict[str, Any] | None = None) -> None:
        """Insert pre-encoded data (``fmt`` is a ClickHouse input format) and wait for the commit."""
        with _mapped(f"insert into {table} failed"):
            self.client.raw_insert(table, None, data, settings=settings, fmt=fmt)

    def ping(self) -> bool:
        """True when the store answers a trivial query."""
        try:
            return self.query("SELECT 1", timeout_s=2) == [(1,)]
        except StoreError:
            return False

    def close(self) -> None:
        """Close every client this store opened."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close()
            except Exception:  # closing is best effort; the engine is going away anyway
                log.debug("closing a store client failed", exc_info=True)
        self._local = threading.local()


def open_store(settings: StoreSettings) -> Store:
    """Open the store (creating its database). Schema changes are applied by the composition
    root's one migration registry (ledgerline/schema.py), never lazily here."""
    return Store(settings)


def embedded_path(dsn: str) -> Path | None:
    """The embedded store's directory of a ``chdb://`` DSN; None for a ClickHouse server."""
    return Path(dsn.removeprefix("chdb://").split("?", 1)[0]) if dsn.startswith("chdb:") else None


def open_existing(settings: StoreSettings, command: str) -> Store:
    """Open a store that must already be there, for a command that reads or audits one: an
    embedded directory with none is refused (ConfigError), never created, so a typo'd data
    directory cannot read as an empty store, "all clear". A server's database opens as is."""
    path = embedded_path(settings.dsn)
    if path is not None and not path.is_dir():
        raise ConfigError(
            f"no store at {path}: run where serve keeps its data or set LEDGERLINE_DATA_DIR "
            f"(or LEDGERLINE_CLICKHOUSE_URL); {command} never creates one"
        )
    return Store(settings)
