"""The cluster rendering of the migrations: the same statements, ``ON CLUSTER`` with Replicated engines.

Migrations are written once, for one node. :class:`ClusterRenderer` turns each statement into
its cluster form from a :data:`Layout` that places every table:

- :class:`Sharded`: ``<table>_local`` (``Replicated*MergeTree`` under ``{shard}``) plus a
  ``Distributed`` table of the original name sharded by ``key``. Queries and inserts keep
  using the original name; materialized views read the ``_local`` table (they fire on the
  shard where a row lands) and write into the ``Distributed`` table (which routes the
  derived row to its own shard).
- :class:`Everywhere`: small control tables replicated to every node (one Keeper path for
  the whole cluster, so ``{replica}`` must be unique cluster-wide), read locally.
- :class:`PerNode`: the ``Null`` staging table, created on every node, nothing stored.
- :class:`Keeper`: ``KeeperMap`` (linearizable, strict inserts), for leases.

The statements are scanned with a small lexer (string literals, quoted names, comments and
parenthesis depth), so only top-level keywords are rewritten. A statement or table the
renderer does not know is an error, never passed through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from collector.store.errors import LedgerlineError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<comment>--[^\n]*|/\*.*?\*/)|(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<quoted>`(?:[^`\\]|\\.)*`)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>\d[\w.]*)|(?P<punct>.)""",
    re.DOTALL,
)
_COLUMN_ACTIONS = {"ADD COLUMN", "MODIFY COLUMN", "DROP COLUMN", "RENAME COLUMN", "COMMENT COLUMN"}


@dataclass(frozen=True)
class Sharded:
    """Replicated ``<table>_local`` per shard and a ``Distributed`` table sharded by ``key``."""

    key: str


@dataclass(frozen=True)
class Everywhere:
    """One replicated copy on every node of the cluster."""


@dataclass(frozen=True)
class PerNode:
    """Created on every node, not replicated (the ``Null`` staging table)."""


@dataclass(frozen=True)
class Keeper:
    """A ``KeeperMap`` table with ``key`` as its primary key."""

    key: str


Placement = Sharded | Everywhere | PerNode | Keeper
Layout = Mapping[str, Placement]


class RenderError(LedgerlineError, ValueError):
    """A statement the cluster renderer cannot place."""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int
    depth: int  # parenthesis depth before the token


def _tokens(sql: str) -> list[_Tok]:
    """Significant tokens of ``sql`` (no whitespace or comments) with their depth."""
    out: list[_Tok] = []
    depth = 0
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "punct"
        if kind in ("ws", "comment"):
            continue
        if m.group() == ")":
            depth -= 1
        out.append(_Tok(kind, m.group(), m.start(), m.end(), depth))
        if m.group() == "(":
            depth += 1
    if depth != 0:
        raise RenderError(f"unbalanced parentheses in: {sql.strip()[:80]}")
    return out


def _upper(tok: _Tok) -> str:
    return tok.text.upper() if tok.kind == "word" else tok.text


def _name(tok: _Tok) -> str:
    return tok.text.strip("`") if tok.kind == "quoted" else tok.text


def _closing(toks: list[_Tok], i: int) -> int:
    """Index of the ``)`` matching the ``(`` at ``i``."""
    for j in range(i + 1, len(toks)):
        if toks[j].text == ")" and toks[j].depth == toks[i].depth:
            return j
    raise RenderError("unclosed parenthesis")


class ClusterRenderer:
    """Renders single-node migration statements for the cluster ``cluster`` and database ``database``."""

    def __init__(self, cluster: str, database: str, layout: Layout) -> None:
        for what, value in (("cluster", cluster), ("database", database)):
            if not _NAME.match(value):
                raise RenderError(f"{what} name {value!r} must be a plain identifier")
        self.cluster = cluster
        self.database = database
        self.layout = layout
        self._on = f"ON CLUSTER '{cluster}'"

    # -- placement --------------------------------------------------------------------------
    def placement(self, table: str) -> Placement:
        """Where ``table`` lives; unknown tables are an error (add them to the layout)."""
        try:
            return self.layout[table]
        except KeyError:
            raise RenderError(f"table {table!r} has no cluster placement; add it to the layout") from None

    def storage_table(self, table: str) -> str:
        """The table that holds the rows (``<table>_local`` for a sharded table)."""
        return f"{table}_local" if isinstance(self.placement(table), Sharded) else table

    def replica_path(self, table: str) -> str:
        """The Keeper path of a replicated table: per shard, or one for the whole cluster."""
        shard = "{shard}" if isinstance(self.placement(table), Sharded) else "all"
        return f"/clickhouse/tables/{shard}/{{database}}/{{table}}"

    def create_database(self) -> str:
        """The database on every node: ON CLUSTER table statements need it everywhere."""
        return f"CREATE DATABASE IF NOT EXISTS {self.database} {self._on}"

    # -- rendering --------------------------------------------------------------------------
    def render(self, sql: str) -> list[str]:
        """The cluster statements for one single-node statement, in the order to run them."""
        toks = _tokens(sql)
        words = [_upper(t) for t in toks[:6]]
        lead = " ".join(words)
        if lead.startswith("CREATE TABLE"):
            return self._create_table(sql, toks)
        if lead.startswith("CREATE MATERIALIZED VIEW"):
            if any(t.depth == 0 and _upper(t) == "REFRESH" for t in toks):
                # A refreshable view reads and writes whole tables on the node it runs on; each
                # shard would need its own over its _local tables. Not rendered yet: on a
                # cluster what it would maintain is read from the raw tables instead.
                return []
            return [self._create_view(sql, toks)]
        if lead.startswith("ALTER TABLE"):
            return self._alter(sql, toks)
        if lead.startswith("DROP VIEW"):
            at = 4 if words[2:4] == ["IF", "EXISTS"] else 2
            return [self._splice(sql, [(toks[at].end, toks[at].end, f" {self._on}")])]
        if lead.startswith("INSERT INTO"):
            self.placement(_name(toks[2]))  # through the Distributed table, from one node
            return [sql]
        raise RenderError(f"no cluster rendering for: {sql.strip()[:80]}")

    def _create_table(self, sql: str, toks: list[_Tok]) -> list[str]:
        at = 5 if [_upper(t) for t in toks[2:5]] == ["IF", "NOT", "EXISTS"] else 2
        table = _name(toks[at])
        place = self.placement(table)
        engine_at = next(
            (i for i, t in enumerate(toks) if t.depth == 0 and _upper(t) == "ENGINE" and toks[i + 1].text == "="),
            None,
        )
        if engine_at is None:
            raise RenderError(f"CREATE TABLE {table} has no ENGINE clause")
        name_tok = toks[engine_at + 2]
        args_end = name_tok.end
        args = ""
        if engine_at + 3 < len(toks) and toks[engine_at + 3].text == "(":
            close = _closing(toks, engine_at + 3)
            args = sql[toks[engine_at + 3].end : toks[close].start].strip()
            args_end = toks[close].end
        engine = name_tok.text
        if isinstance(place, PerNode):
            return [self._splice(sql, [(toks[at].end, toks[at].end, f" {self._on}")])]
        if isinstance(place, Keeper):
            keeper = f"ENGINE = KeeperMap('/ledgerline/{self.database}/{table}') PRIMARY KEY {place.key}"
            return [
                self._splice(
                    sql,
                    [(toks[at].end, toks[at].end, f" {self._on}"), (toks[engine_at].start, len(sql), keeper + "\n")],
                )
            ]
        if not engine.endswith("MergeTree") or engine.startswith("Replicated"):
            raise RenderError(f"CREATE TABLE {table}: engine {engine} has no replicated form here")
        replicated_args = ", ".join(a for a in (f"'{self.replica_path(table)}'", "'{replica}'", args) if a)
        replicated = f"Replicated{engine}({replicated_args})"
        local = self.storage_table(table)
        edits = [(toks[at].start, toks[at].end, f"{local} {self._on}"), (name_tok.start, args_end, replicated)]
        statements = [self._splice(sql, edits)]
        if isinstance(place, Sharded):
            if_not_exists = "IF NOT EXISTS " if at == 5 else ""
            statements.append(
                f"CREATE TABLE {if_not_exists}{table} {self._on} AS {local}\n"
                f"ENGINE = Distributed('{self.cluster}', '{self.database}', '{local}', {place.key})\n"
            )
        return statements

    def _create_view(self, sql: str, toks: list[_Tok]) -> str:
        at = 6 if [_upper(t) for t in toks[3:6]] == ["IF", "NOT", "EXISTS"] else 3
        if _upper(toks[at + 1]) != "TO":
            raise RenderError(f"materialized view {_name(toks[at])} must write TO a table")
        self.placement(_name(toks[at + 2]))
        froms = [i for i, t in enumerate(toks) if t.depth == 0 and _upper(t) == "FROM"]
        if len(froms) != 1:
            raise RenderError(f"materialized view {_name(toks[at])} must read exactly one table")
        source = toks[froms[0] + 1]
        # The view fires where a row is stored (the local table) and writes through the
        # target's Distributed table, which sends each derived row to its shard.
        return self._splice(
            sql,
            [
                (toks[at].end, toks[at].end, f" {self._on}"),
                (source.start, source.end, self.storage_table(_name(source))),
            ],
        )

    def _alter(self, sql: str, toks: list[_Tok]) -> list[str]:
        table_tok = toks[2]
        table = _name(table_tok)
        place = self.placement(table)
        local = self.storage_table(table)
        on_local = self._splice(sql, [(table_tok.start, table_tok.end, f"{local} {self._on}")])
        if not isinstance(place, Sharded):
            return [on_local]
        # Column changes apply to both tables; indexes, TTLs and the like only to the data.
        groups = self._alter_groups(toks[3:])
        actions = {name for name, _ in groups}
        if actions == {"MODIFY COLUMN"} and all("CODEC" in words for _, words in groups):
            return [on_local]  # codecs only: the Distributed table stores nothing
        if actions <= _COLUMN_ACTIONS:
            return [on_local, self._splice(sql, [(table_tok.end, table_tok.end, f" {self._on}")])]
        if actions & _COLUMN_ACTIONS:
            raise RenderError(f"ALTER TABLE {table}: do not mix column changes with other actions")
        return [on_local]

    @staticmethod
    def _alter_groups(toks: list[_Tok]) -> list[tuple[str, set[str]]]:
        """Each action of an ALTER TABLE (split at top-level commas): its first two words (e.g.
        ``MODIFY COLUMN``) and every word in it."""
        groups: list[list[_Tok]] = [[]]
        for t in toks:
            if t.depth == 0 and t.text == ",":
                groups.append([])
            else:
                groups[-1].append(t)
        out = []
        for g in groups:
            words = [_upper(t) for t in g if t.kind == "word"]
            if words:
                out.append((" ".join(words[:2]), set(words)))
        return out

    @staticmethod
    def _splice(sql: str, edits: list[tuple[int, int, str]]) -> str:
        out, pos = [], 0
        for start, end, text in sorted(edits):
            out += [sql[pos:start], text]
            pos = end
        out.append(sql[pos:])
        return "".join(out)
