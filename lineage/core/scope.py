"""A credential's data scope: the legal entities and regions whose hops it may see.

Scope is enforced in SQL, never after fetching: every query over hops binds the two array
parameters of :meth:`Scope.params` and keeps only rows for which :func:`in_scope` holds.
An empty list means "no limit on that dimension"; an unrestricted scope binds two empty
lists, so the same SQL serves every caller.

A hop with no legal entity (or no region) is outside a scope limited on that dimension:
least privilege, a scoped credential sees only what is positively marked as its own.
"""

from __future__ import annotations

from dataclasses import dataclass

_LE = "{scope_le:Array(String)}"
_RG = "{scope_rg:Array(String)}"


@dataclass(frozen=True)
class Scope:
    """Legal entities and regions a credential may see; empty tuples mean no limit."""

    legal_entities: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def unrestricted(self) -> bool:
        """True when the scope limits nothing."""
        return not self.legal_entities and not self.regions

    def params(self) -> dict[str, list[str]]:
        """The bound parameters every scoped query takes."""
        return {"scope_le": sorted(self.legal_entities), "scope_rg": sorted(self.regions)}

    def covers(self, other: Scope) -> bool:
        """True when every hop ``other`` may see is one this scope may see too.

        A dimension this scope limits must be limited in ``other`` to a subset of it: a scoped
        caller can never hand out (or see) a credential wider than its own.
        """
        return _covers(self.legal_entities, other.legal_entities) and _covers(self.regions, other.regions)

    def pairs(self) -> list[tuple[str, str]]:
        """(legal entity, region) pairs this scope spans; ``*`` stands for an unlimited dimension."""
        return [(le, rg) for le in self.legal_entities or ("*",) for rg in self.regions or ("*",)]

    def narrowed(self, legal_entity: str = "", region: str = "") -> Scope:
        """This scope limited further by a view's filters (a filter is a scope the user chose).

        Figures filtered by legal entity or region are computed from that entity's or region's
        hops only, exactly as a credential limited to it would see them, so every query that
        keeps scope in SQL applies the filters the same way. A value outside this scope yields a
        scope that matches no hop (never a wider one).
        """
        return Scope(_narrow(self.legal_entities, legal_entity), _narrow(self.regions, region))

    def allows(self, legal_entity: str, region: str) -> bool:
        """The same rule as :func:`in_scope`, for one hop's values (pure checks and tests)."""
        le_ok = not self.legal_entities or legal_entity in self.legal_entities
        rg_ok = not self.regions or region in self.regions
        return le_ok and rg_ok


EVERYTHING = Scope()


# A dimension value no hop carries: what a filter outside the caller's scope narrows to.
NOTHING = "\x00none"


def _narrow(limit: tuple[str, ...], value: str) -> tuple[str, ...]:
    if not value:
        return limit
    return (value,) if not limit or value in limit else (NOTHING,)


def _covers(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    return not outer or (bool(inner) and set(inner) <= set(outer))


def in_scope(alias: str = "") -> str:
    """SQL predicate over a hop row (``alias.`` prefixed) binding ``scope_le`` and ``scope_rg``."""
    p = f"{alias}." if alias else ""
    return (
        f"((empty({_LE}) OR has({_LE}, toString({p}LegalEntity)))"
        f" AND (empty({_RG}) OR has({_RG}, toString({p}Region))))"
    )


def covers_sql(le_column: str, rg_column: str) -> str:
    """SQL predicate: the scope stored in two array columns lies within the bound scope
    (``scope_le``, ``scope_rg``), the rule of :meth:`Scope.covers`."""
    return (
        f"((empty({_LE}) OR (notEmpty({le_column}) AND hasAll({_LE}, {le_column})))"
        f" AND (empty({_RG}) OR (notEmpty({rg_column}) AND hasAll({_RG}, {rg_column}))))"
    )
