"""Rules on more than one column, attached to their :class:`~contracts.tables.Table` as columns are.

A :class:`Check` names one column the validator reads: a derived one, computed
with polars at the validation boundary from the table's own columns (``task``
and ``category`` make ``task/category pair``), or one of the table's own. Its
expectation is that the column's values lie in a set, or (``exactly``) that
its distinct values are exactly that set, and (``one_row_each``) that the table
has one row per value. The set comes from the catalog (:class:`CatalogDomains`)
or from the run's plan (:class:`RunPlan`), given at validation time, because
``contracts`` must not import the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

EDGE_UNIT = "edge"  # the pseudo task that stands for a variant's edge unit in a plan


@dataclass(frozen=True)
class CatalogDomains:
    """The catalog facts a contract checks against (``contracts`` cannot import the catalog)."""

    categories: tuple[str, ...]
    task_category: Mapping[str, str]  # task key -> its category
    primary: Mapping[str, tuple[str, str]]  # task key -> (metric, filter) that scores it


@dataclass(frozen=True)
class RunPlan:
    """What one staged run must contain: its id and, per variant, the planned task keys.

    A variant whose list holds ``"edge"`` planned an edge unit and must have
    every edge metric.
    """

    run_id: str
    units: Mapping[str, Sequence[str]]

    def task_units(self) -> list[str]:
        """``variant/task`` of every planned task unit (the edge units left out)."""
        return sorted({f"{v}/{t}" for v, tasks in self.units.items() for t in tasks if t != EDGE_UNIT})

    def edge_variants(self) -> list[str]:
        return [variant for variant, tasks in self.units.items() if EDGE_UNIT in tasks]


# Each is given the catalog facts and the plan (None when not given; ``needs`` says which it reads).
Values = Callable[[CatalogDomains | None, RunPlan | None], list[str]]
Derive = Callable[[CatalogDomains | None], pl.Expr]


@dataclass(frozen=True)
class Check:
    """One rule beyond single columns: a column (derived when ``derive`` is set) and the values it must hold.

    ``sources``: the table columns ``derive`` reads; when one is missing the
    derived column is null (the column-set expectation reports the missing one).
    ``needs``: what the expected values come from; a check whose inputs were not
    given (no catalog, no plan) is left out of the suite.
    """

    column: str
    values: Values
    derive: Derive | None = None
    sources: tuple[str, ...] = ()
    needs: frozenset[str] = frozenset({"plan"})  # of "domains", "plan"
    exactly: bool = False
    one_row_each: bool = False

    def applies(self, domains: CatalogDomains | None, plan: RunPlan | None) -> bool:
        given = {name for name, value in (("domains", domains), ("plan", plan)) if value is not None}
        return self.needs <= given

    def expression(self, domains: CatalogDomains | None, columns: Sequence[str]) -> pl.Expr:
        """The derived column for a frame with ``columns`` (null when a source is missing)."""
        if self.derive is not None and all(c in columns for c in self.sources):
            return self.derive(domains).alias(self.column)
        return pl.lit(None, pl.String).alias(self.column)


def joined(*names: str) -> pl.Expr:
    """``a/b/...`` of the named columns."""
    parts: list[pl.Expr] = []
    for name in names:
        parts += [pl.lit("/"), pl.col(name)] if parts else [pl.col(name)]
    return pl.concat_str(parts)
