"""Great Expectations suites, derived from the table definitions in ``tables``.

Every frame is checked before it is written to staging or published:

- the exact set of columns, and each column's type;
- not-null for non-nullable columns, and no NaN in any float column;
- ranges (accuracies in [0, 1], stderr >= 0, throughputs > 0, ...);
- allowed values: fixed ones (statuses, backends) and the catalog's (tasks,
  categories);
- unique keys;
- each table's own checks on more than one column (``Table.checks``, see
  ``contracts.checks``): that each task sits in its own category and, for a
  staged run, coverage of its plan (one runs row per planned variant, the
  primary metric of every planned (variant, task), the edge metrics of every
  variant that planned an edge unit, and nothing unplanned).

GX validates pandas frames, not polars: :func:`validate` converts at this
boundary and nowhere else. Checks GX cannot express on one column (NaN, a
range that applies to some metrics only, a table's derived checks) are
written as derived boolean or string columns added to the pandas frame, so
that every rule is still an expectation and lands in the same report.

GX is imported lazily (its import takes seconds) and runs in an ephemeral
context with analytics off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import polars as pl

from contracts.checks import CatalogDomains, Check, RunPlan
from contracts.tables import Column, Table

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_suite import ExpectationSuite

# The name GX reports for a column's values, per polars dtype, once converted to pandas.
_GX_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "str",
    pl.Int64: "int64",
    pl.Float64: "float64",
    pl.Boolean: "bool",
    pl.Datetime: "Timestamp",
}

# GX's ephemeral context is not safe to share between threads (concurrent publishes).
_GX_LOCK = threading.RLock()


@dataclass(frozen=True)
class Failure:
    """One failed expectation."""

    table: str
    expectation: str
    column: str | None
    detail: str


@dataclass
class ValidationReport:
    """The outcome of validating one or more frames: every failed expectation."""

    checked: list[str] = field(default_factory=list)  # table names
    failures: list[Failure] = field(default_factory=list)
    expectations: int = 0

    @property
    def success(self) -> bool:
        return not self.failures

    def extend(self, other: ValidationReport) -> None:
        self.checked += other.checked
        self.failures += other.failures
        self.expectations += other.expectations

    def summary(self) -> str:
        if self.success:
            return f"all {self.expectations} expectations passed on {', '.join(self.checked)}"
        lines = [f"{f.table}.{f.column or '*'}: {f.expectation} ({f.detail})" for f in self.failures]
        return f"{len(self.failures)} of {self.expectations} expectations failed: " + "; ".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "tables": self.checked,
            "expectations": self.expectations,
            "failures": [f.__dict__ for f in self.failures],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_markdown(self, title: str = "Data contracts") -> str:
        head = f"## {title}\n\n"
        if self.success:
            return head + f"All {self.expectations} expectations passed on {', '.join(self.checked)}.\n"
        rows = "\n".join(
            f"| {f.table} | {f.column or ''} | {f.expectation} | {f.detail.replace('|', '/')} |" for f in self.failures
        )
        return (
            head
            + f"**{len(self.failures)} of {self.expectations} expectations failed.**\n\n"
            + "| table | column | expectation | detail |\n|---|---|---|---|\n"
            + rows
            + "\n"
        )


def validate(
    table: Table,
    frame: pl.DataFrame,
    domains: CatalogDomains | None = None,
    plan: RunPlan | None = None,
) -> ValidationReport:
    """Validate one polars frame against its table's suite; never raises on bad data."""
    frame = table.coerce(frame)
    boundary = _boundary_frame(table, frame, domains, plan)
    with _GX_LOCK:
        suite = build_suite(table, domains, plan)
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": boundary})
        # Pass/fail alone is several times cheaper; details are computed for the failures only.
        result = batch.validate(suite, result_format="BOOLEAN_ONLY")
        failed = [item.expectation_config for item in result.results if not item.success]
        details = _explain(batch, suite.name, failed) if failed else []
    report = ValidationReport(checked=[table.name], expectations=len(result.results))
    for item in details:
        if item.success:
            continue
        config = item.expectation_config
        report.failures.append(
            Failure(
                table=table.name,
                expectation=config.type,
                column=config.kwargs.get("column") or _list(config.kwargs.get("column_list")),
                detail=_detail(item, frame.columns),
            )
        )
    return report


def _explain(batch: Any, name: str, failed: list[Any]) -> list[Any]:
    """Re-run the failed expectations with details (observed and unexpected values)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"{name}.failures")
    for config in failed:
        suite.add_expectation(config.to_domain_obj())
    return list(batch.validate(suite, result_format="SUMMARY").results)


def build_suite(table: Table, domains: CatalogDomains | None = None, plan: RunPlan | None = None) -> ExpectationSuite:
    """The GX suite of one table, from its definition (plus catalog values and plan, when given)."""
    frozen_domains = None
    if domains is not None:
        frozen_domains = (
            tuple(domains.categories),
            tuple(sorted(domains.task_category.items())),
            tuple(sorted(domains.primary.items())),
        )
    frozen_plan = None if plan is None else (plan.run_id, tuple((v, tuple(t)) for v, t in sorted(plan.units.items())))
    return _suite(table, frozen_domains, frozen_plan)


@lru_cache(maxsize=64)
def _suite(table: Table, frozen_domains: tuple | None, frozen_plan: tuple | None) -> ExpectationSuite:
    """Suites take a while to build and are the same for the same inputs: build each once."""
    domains = plan = None
    if frozen_domains is not None:
        categories, task_category, primary = frozen_domains
        domains = CatalogDomains(categories, dict(task_category), dict(primary))
    if frozen_plan is not None:
        plan = RunPlan(frozen_plan[0], {v: list(t) for v, t in frozen_plan[1]})
    return _build_suite(table, domains, plan)


def _build_suite(table: Table, domains: CatalogDomains | None, plan: RunPlan | None) -> ExpectationSuite:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    _batch_definition()  # a suite needs an active context
    expectations: list[gxe.Expectation] = []
    add = expectations.append
    add(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*table.names, *_derived_names(table, domains, plan)], exact_match=True
        )
    )
    for col in table.columns:
        add(gxe.ExpectColumnValuesToBeOfType(column=col.name, type_=_gx_type(col)))
        if not col.nullable:
            add(gxe.ExpectColumnValuesToNotBeNull(column=col.name))
        if col.dtype.is_float():
            add(gxe.ExpectColumnValuesToBeInSet(column=_nan_column(col), value_set=[False]))
        if col.min_value is not None or col.max_value is not None:
            add(
                gxe.ExpectColumnValuesToBeBetween(
                    column=_range_column(col),
                    min_value=col.min_value,
                    max_value=col.max_value,
                    strict_min=col.strict_min,
                )
            )
        if col.allowed:
            add(gxe.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(col.allowed)))
        if col.pattern:
            add(gxe.ExpectColumnValuesToMatchRegex(column=col.name, regex=col.pattern))
        if col.domain and domains is not None:
            add(gxe.ExpectColumnValuesToBeInSet(column=col.name, value_set=_domain(domains, col.domain)))
    if len(table.keys) == 1:
        add(gxe.ExpectColumnValuesToBeUnique(column=table.keys[0]))
    else:
        add(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(table.keys)))
    if plan is not None and "run_id" in table.names:
        add(gxe.ExpectColumnValuesToBeInSet(column="run_id", value_set=[plan.run_id]))
    for check in _checks(table, domains, plan):
        values = check.values(domains, plan)
        if check.one_row_each:
            add(gxe.ExpectTableRowCountToEqual(value=len(values)))
        if check.exactly:
            add(gxe.ExpectColumnDistinctValuesToEqualSet(column=check.column, value_set=values))
        else:
            add(gxe.ExpectColumnValuesToBeInSet(column=check.column, value_set=values))
    # Given all at once: ``add_expectation`` compares each new one with every one before it
    # (pydantic dicts), 0.7 s of a run's staging. The constructor logs and drops an invalid
    # one instead of raising, so the count is checked.
    suite = gx.ExpectationSuite(name=f"slmbench.{table.name}", expectations=expectations)
    if len(suite.expectations) != len(expectations):
        raise RuntimeError(f"GX refused {len(expectations) - len(suite.expectations)} expectation(s) of {table.name}")
    return suite


def _checks(table: Table, domains: CatalogDomains | None, plan: RunPlan | None) -> list[Check]:
    """The table's checks whose inputs (catalog, plan) were given."""
    return [check for check in table.checks if check.applies(domains, plan)]


# --- derived columns: rules on more than one column, or that pandas would blur


def _nan_column(col: Column) -> str:
    return f"{col.name} is NaN"


def _range_column(col: Column) -> str:
    if col.range_when is None:
        return col.name
    return f"{col.name} where {col.range_when[0]} is a proportion"


def _derived_names(table: Table, domains: CatalogDomains | None, plan: RunPlan | None) -> list[str]:
    names = [_nan_column(c) for c in table.columns if c.dtype.is_float()]
    names += [_range_column(c) for c in table.columns if c.range_when is not None]
    return names + [check.column for check in _checks(table, domains, plan) if check.derive is not None]


def _boundary_frame(
    table: Table, frame: pl.DataFrame, domains: CatalogDomains | None, plan: RunPlan | None
) -> pd.DataFrame:
    """The pandas frame GX sees: the table's columns plus the derived ones."""
    present = set(frame.columns)
    derived: list[pl.Expr] = []
    for col in table.columns:
        if col.dtype.is_float():
            is_nan = pl.col(col.name).is_nan() if _is_float(frame, col.name) else pl.lit(False)
            derived.append((is_nan.fill_null(False) if col.name in present else pl.lit(False)).alias(_nan_column(col)))
        if col.range_when is not None:
            other, values = col.range_when
            expr = (
                pl.when(pl.col(other).is_in(list(values))).then(pl.col(col.name))
                if _has(frame, col.name, other)
                else pl.lit(None)
            )
            derived.append(expr.alias(_range_column(col)))
    derived += [
        check.expression(domains, frame.columns) for check in _checks(table, domains, plan) if check.derive is not None
    ]
    out = frame.with_columns(derived).to_pandas()
    # pandas turns an integer column with nulls into float64; keep it an integer for the type check.
    for name, dtype in frame.schema.items():
        if dtype.is_integer():
            out[name] = out[name].astype("Int64")
    return out


def _has(frame: pl.DataFrame, *names: str) -> bool:
    return all(n in frame.columns for n in names)


def _is_float(frame: pl.DataFrame, name: str) -> bool:
    return name in frame.columns and frame.schema[name].is_float()


def _domain(domains: CatalogDomains, name: str) -> list[str]:
    if name == "task":
        return sorted(domains.task_category)
    if name == "category":
        return list(domains.categories)
    raise KeyError(f"unknown domain {name!r}")


def _gx_type(col: Column) -> str:
    for dtype, name in _GX_TYPES.items():
        if isinstance(col.dtype, dtype):
            return name
    raise TypeError(f"{col.name}: no GX type for {col.dtype}")


def _list(value: object) -> str | None:
    return ", ".join(value) if isinstance(value, list) else None


def _detail(item: Any, columns: Sequence[str]) -> str:
    """A one-line reason: what was missing, observed or unexpected."""
    column = item.expectation_config.kwargs.get("column")
    error = _exception_message(item.exception_info)
    if error is not None:
        if column and column not in columns and column in _source_names(item):
            return "column is missing"
        return f"could not be evaluated: {error[:200]}"
    result = item.result or {}
    mismatched = (result.get("details") or {}).get("mismatched")
    if mismatched:
        return "; ".join(f"{kind} {sorted(names)}" for kind, names in mismatched.items())
    parts = []
    if result.get("missing_count") and "partial_missing_list" in result:
        parts.append(
            f"{result['missing_count']} missing, e.g. {[_plain(v) for v in result['partial_missing_list'][:5]]}"
        )
    if result.get("unexpected_count"):
        sample = [_plain(v) for v in result.get("partial_unexpected_list", [])[:5]]
        parts.append(f"{result['unexpected_count']} unexpected, e.g. {sample}")
    if not parts and result.get("observed_value") is not None:
        parts.append(f"observed {result['observed_value']!r}")
    return "; ".join(parts) or "failed"


def _source_names(item: Any) -> set[str]:
    """Column names an expectation refers to that are not derived at the boundary."""
    column = item.expectation_config.kwargs.get("column")
    return {column} if column and " " not in column else set()


def _exception_message(info: Any) -> str | None:
    """GX reports an error either flat or per metric; return the first message."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "error")
    return None


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


@cache
def warm_up() -> threading.Thread:
    """Import Great Expectations and make its context in a background thread; returns the thread.

    The import takes 3-14 s and a run needs it only at its end, to validate its frames; started
    while the run waits on other things (the Prefect server starting, its workers), it costs the
    run little. :func:`validate` waits for it (the same lock). Once per process.
    """

    def warm() -> None:
        # A failure here is met again, and reported, by the validate() that needs the context.
        with _GX_LOCK, contextlib.suppress(Exception):
            _batch_definition()

    thread = threading.Thread(target=warm, name="gx-warm-up", daemon=True)
    thread.start()
    return thread


@cache
def _batch_definition() -> BatchDefinition:
    """One ephemeral GX context per process, made on first use."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    # GX logs the temporary docs folder of every ephemeral context at INFO: noise in CLI and flow output.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)

    context = gx.get_context(mode="ephemeral")
    # The per-metric progress bars would flood logs and Prefect's output.
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}  # type: ignore[assignment]
    asset = context.data_sources.add_pandas("slmbench").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")
