"""The results tables, defined once.

Each table is one :class:`Table`: its columns (polars dtype, nullability,
ranges, allowed values) and its key. The polars schema the writers use and the
Great Expectations suite that guards every write (``contracts.expectations``)
are both derived from these definitions, so they cannot drift apart.

Tables and their keys:

- ``runs``: one row per run and model variant (key ``run_id, variant_id``).
  Its ``status`` is ``staged`` when the run's frames passed their contracts,
  ``failed`` when they did not, ``published`` in the published tables.
- ``scores``: one row per run, variant, task, subtask, metric and filter. For a
  task group that planning split (mmlu), ``task`` is the catalog key and
  ``subtask`` the lm-eval task; otherwise ``subtask == task``.
- ``edge``: one row per run, variant and edge metric (the mean of repeated
  measurements, their sample standard deviation and the repetition count).
- ``models``: the registry of published models, one row per model name,
  derived at publish time from the latest published run of each model (runs
  carry the submission's model card: family, parameters, license, ...), with
  the identity that holds the name (``sources`` and ``submitted_by``,
  ``contracts.identity``).
- ``leaderboard``: one row per model variant, built by ``evals.scoring``; its
  category columns come from the catalog, see :func:`leaderboard`.
- ``queue``: the submission events the runs tables cannot know (a pull
  request's check passed, a run waits or is under way, a run failed before it
  staged anything), one row each, appended (``evals.warehouse.queue``).
- ``samples``: one row per run, variant, task, subtask, filter and document:
  what the model was given and what it answered, from lm-eval's logged
  samples (``evals.results.samples``). Staged and published with the run's scores and
  partitioned by run, so a run's items are read (and merged) without the
  others'.

Values that depend on the catalog (task keys, categories) are not fixed here,
because ``contracts`` must not import ``evals``: a column names its
``domain`` and the validator is given the allowed values for each domain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from contracts.backends import BACKEND_NAMES
from contracts.checks import CatalogDomains, Check, RunPlan, joined
from contracts.isolation import SANDBOX_MODES as SANDBOX_ISOLATIONS
from contracts.quantizations import QUANTIZATIONS
from contracts.submission import CATEGORIES

# The datetime type of every timestamp column: UTC, microseconds (what Delta stores).
UTC_DATETIME = pl.Datetime("us", "UTC")

RUN_STATUSES = ("staged", "failed", "published")
# evals.backends.spec.scorer_name: how a backend scores log-likelihoods
SCORERS = ("shared-prefix", "hflm", "llamacpp-prefix-cache")
# A full git commit id, as GitHub reports a pull request's head.
GIT_SHA = r"^[0-9a-f]{40}$"
# The precisions a submission may ask for (FP32/FP16/BF16 and GGUF quantizations).
PRECISIONS = QUANTIZATIONS

# Edge metrics and their units. The names are the contract between the edge
# measurement and scoring; evals/edge/reference.yaml gives each its bounds.
# Measured as llama-bench does (evals/edge/measurement.py): a 512-token prompt and 128
# generated tokens by default, a warm-up, then repeated runs. The first three
# names predate the split of throughput into prompt and generation; they keep
# their meaning (and the leaderboard's column names).
EDGE_UNITS = {
    "tokens_per_s": "tokens/s",  # generation (decode) throughput, higher is better
    "prompt_tokens_per_s": "tokens/s",  # prompt processing throughput, higher is better
    "latency_ms": "ms",  # time to first token (the prompt's processing time), lower is better
    "ms_per_token": "ms",  # generation latency per token, lower is better
    "peak_memory_gb": "GB",  # peak memory while measuring (RSS on CPU, allocated on GPU), lower is better
    "model_size_gb": "GB",  # bytes of the weight files, lower is better
}

# lm-eval metrics whose values are proportions: their scores must lie in [0, 1].
# Other metrics (perplexities, BLEU on a 0-100 scale, ...) only need to be >= 0.
PROPORTION_METRICS = (
    "acc",
    "acc_norm",
    "exact_match",
    "pass@1",
    "pass_at_1",
    "pass@10",
    "mc1",
    "mc2",
    "f1",
    "em",
    "contains",
)


# Bias scores (BBQ's, as lm-eval names and computes them, per context and per category: ``amb_bias_score``,
# ``disamb_bias_score_Age``, ...): signed, in [-1, 1], best at 0 (answers lean neither toward the stereotype nor
# against it), so neither higher nor lower is better. Shown beside scores; never a task's primary metric, never
# averaged into a category (the catalog refuses them; the methodology page says why).
BIAS_METRICS = ("amb_bias_score", "disamb_bias_score")
BIAS_RANGE = (-1.0, 1.0)
IN_BIAS_RANGE = "in [-1, 1]"


def is_bias_metric(metric: str) -> bool:
    return any(metric == m or metric.startswith(m + "_") for m in BIAS_METRICS)


@dataclass(frozen=True)
class Column:
    """One column: its type and the rules every value must meet."""

    name: str
    dtype: pl.DataType
    doc: str
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    # True when the minimum itself is not allowed (throughputs must be > 0).
    strict_min: bool = False
    # A fixed set of allowed values (statuses, backends, units).
    allowed: tuple[str, ...] = ()
    # Allowed values supplied at validation time from the catalog ("task", "category").
    domain: str | None = None
    # When set, the range applies only to rows whose column ``[0]`` is one of ``[1]``.
    range_when: tuple[str, tuple[str, ...]] | None = None
    # A regular expression every (non-null) value must match in full.
    pattern: str | None = None

    def problem(self, value: object) -> str | None:
        """What is wrong with one value by this column's own rules (null, allowed values, pattern, range), or None.

        For writers that check a row where running the table's GX suite costs too much (queue events);
        catalog domains and rules across columns stay the suite's.
        """
        if value is None:
            return None if self.nullable else f"{self.name}: must not be null"
        if self.allowed and value not in self.allowed:
            return f"{self.name}: {value!r} is not one of {', '.join(self.allowed)}"
        if self.pattern is not None and not (isinstance(value, str) and re.fullmatch(self.pattern, value)):
            return f"{self.name}: {value!r} does not match {self.pattern}"
        if isinstance(value, int | float) and self.range_when is None:
            low_fails = self.min_value is not None and (
                value <= self.min_value if self.strict_min else value < self.min_value
            )
            if low_fails or (self.max_value is not None and value > self.max_value):
                return f"{self.name}: {value} is out of range [{self.min_value}, {self.max_value}]"
        return None


@dataclass(frozen=True)
class Table:
    """A table: ordered columns, the columns that identify a row, and its rules on more than one column."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...]
    checks: tuple[Check, ...] = ()
    partition_by: tuple[str, ...] = ()  # Delta partition columns (a table read a run at a time)

    @property
    def schema(self) -> pl.Schema:
        """The polars schema, in column order."""
        return pl.Schema([(c.name, c.dtype) for c in self.columns])

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}; columns: {', '.join(self.names)}")

    def empty(self) -> pl.DataFrame:
        """A frame with no rows and this table's schema."""
        return pl.DataFrame(schema=self.schema)

    def upgrade(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A frame stored under an earlier contract, with the nullable columns added since as nulls.

        Columns are only ever added to a contract as nullable (a row written before
        the column existed has no value for it), so older table versions stay readable.
        """
        added = [c for c in self.columns if c.name not in frame.columns and c.nullable]
        return frame.with_columns(pl.lit(None, dtype=c.dtype).alias(c.name) for c in added) if added else frame

    def coerce(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Apply the contract's safe casts (:func:`castable`) to the columns it has; leave wrong types and
        missing or extra columns for the validator to report, as :meth:`conform` would refuse them."""
        casts = [
            pl.col(name).cast(self.column(name).dtype)
            for name in frame.columns
            if name in self.names
            and frame.schema[name] != self.column(name).dtype
            and castable(frame.schema[name], self.column(name).dtype)
        ]
        return frame.with_columns(casts) if casts else frame

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Select this table's columns in order and cast them to its dtypes.

        Raises :class:`SchemaError` naming every missing or extra column, or the
        column that cannot be cast; the value checks are the GX suite's job.
        """
        missing = [n for n in self.names if n not in frame.columns]
        extra = [n for n in frame.columns if n not in self.names]
        if missing or extra:
            raise SchemaError(
                f"{self.name}: missing columns {missing or 'none'}, unexpected columns {extra or 'none'}; "
                f"build the frame from contracts.tables.{self.name.upper()}.schema"
            )
        casts = []
        for col in self.columns:
            current = frame.schema[col.name]
            if current == col.dtype:
                casts.append(pl.col(col.name))
            elif castable(current, col.dtype):
                casts.append(pl.col(col.name).cast(col.dtype, strict=True))
            else:
                raise SchemaError(f"{self.name}.{col.name}: expected {col.dtype}, got {current}")
        try:
            return frame.select(casts)
        except pl.exceptions.InvalidOperationError as err:
            raise SchemaError(f"{self.name}: a value cannot be cast to the contract's type: {err}") from err


class SchemaError(ValueError):
    """A frame's columns or types do not match its table."""


def castable(source: pl.DataType, target: pl.DataType) -> bool:
    """Casts that never change meaning: integer widths, int -> float, null -> any, naive UTC."""
    if source == pl.Null:
        return True
    if source.is_integer() and (target.is_integer() or target.is_float()):
        return True
    if source.is_float() and target.is_float():
        return True
    if isinstance(source, pl.Datetime) and isinstance(target, pl.Datetime):
        # Naive timestamps are taken as UTC; another zone is a different instant label.
        return source.time_zone in (None, "UTC")
    return target == pl.Utf8 and source in (pl.Categorical, pl.Enum)


def _str(name: str, doc: str, **kw: object) -> Column:
    return Column(name, pl.Utf8(), doc, **kw)  # type: ignore[arg-type]


def _int(name: str, doc: str, **kw: object) -> Column:
    return Column(name, pl.Int64(), doc, **kw)  # type: ignore[arg-type]


def _float(name: str, doc: str, **kw: object) -> Column:
    return Column(name, pl.Float64(), doc, **kw)  # type: ignore[arg-type]


def _time(name: str, doc: str, **kw: object) -> Column:
    return Column(name, UTC_DATETIME, doc, **kw)  # type: ignore[arg-type]


def _bool(name: str, doc: str, **kw: object) -> Column:
    return Column(name, pl.Boolean(), doc, **kw)  # type: ignore[arg-type]


# Added after tables were first written, so nullable (Table.upgrade): null on rows from before it existed,
# when no run applied a chat template.
_CHAT_TEMPLATE = _bool(
    "chat_template",
    "true when prompts went through the model's chat template (lm-eval's apply_chat_template); null: before the "
    "column existed, when no template was applied",
    nullable=True,
)


# --- checks on more than one column (contracts.checks), against the catalog or the run's plan


def _task_category_pairs(domains: CatalogDomains | None, plan: RunPlan | None) -> list[str]:
    return sorted(f"{t}/{c}" for t, c in domains.task_category.items()) if domains else []


def _primary_unit(domains: CatalogDomains | None) -> pl.Expr:
    """``variant/task`` on the rows of a task's primary metric and filter, else null."""
    primaries = [f"{t}/{m}/{f}" for t, (m, f) in domains.primary.items()] if domains else []
    return pl.when(joined("task", "metric", "filter").is_in(primaries)).then(joined("variant_id", "task"))


def _bias_in_range(domains: CatalogDomains | None) -> pl.Expr:
    """On a bias score's rows: whether its value lies in [-1, 1]; null on every other row."""
    bias = pl.col("metric").str.contains("^(" + "|".join(BIAS_METRICS) + ")(_|$)")
    low, high = BIAS_RANGE
    inside = pl.col("value").is_between(low, high)
    return pl.when(bias).then(pl.when(inside).then(pl.lit(IN_BIAS_RANGE)).otherwise(pl.lit("outside [-1, 1]")))


def _planned_task_units(domains: CatalogDomains | None, plan: RunPlan | None) -> list[str]:
    return plan.task_units() if plan else []


def _planned_edge_metrics(domains: CatalogDomains | None, plan: RunPlan | None) -> list[str]:
    return sorted(f"{v}/{m}" for v in plan.edge_variants() for m in EDGE_UNITS) if plan else []


def _planned_variants(domains: CatalogDomains | None, plan: RunPlan | None) -> list[str]:
    return sorted(plan.units) if plan else []


_RUN_KEY = (
    _str("run_id", "the benchmark run (its Prefect flow run name)"),
    _str("variant_id", "the model variant within the submission (backend and precision)"),
)

RUNS = Table(
    name="runs",
    doc="One row per run and model variant: what ran, how, on what, and how it ended.",
    keys=("run_id", "variant_id"),
    # one row per planned variant, and no other
    checks=(Check("variant_id", _planned_variants, exactly=True, one_row_each=True),),
    columns=(
        *_RUN_KEY,
        _str("status", "staged | failed | published", allowed=RUN_STATUSES),
        _str("submission_path", "the submission YAML, relative to the repo"),
        _str("submission_sha256", "sha256 of the submission file's bytes"),
        _str("model_name", "the submission's model name (registry key)"),
        _str("hf_repo", "the hub repository, when the weights came from one", nullable=True),
        _str("revision", "the hub commit of the weights, when from the hub", nullable=True),
        _str("weights_digest", "sha256 of the weight files as loaded"),
        # The submission's model card, copied onto every run so the registry
        # (models) and the leaderboard are derived from published runs alone.
        _str("family", "model family (llama, qwen2, ...)", nullable=True),
        _int("parameters", "parameter count, as a number", nullable=True, min_value=1),
        _str("license", "SPDX license id", nullable=True),
        _str("architecture", "architecture (LlamaForCausalLM, ...)", nullable=True),
        _int("context_length", "maximum context, tokens", nullable=True, min_value=1),
        _str("submitted_by", "GitHub handle of the submitter", nullable=True),
        _str("backend", " | ".join(BACKEND_NAMES), allowed=BACKEND_NAMES),
        _str("precision", "FP32/FP16/BF16 or a GGUF quantization", allowed=PRECISIONS),
        _str(
            "tensor_types",
            'JSON: a GGUF\'s tensor-type mix as read from the file ({"Q4_1": {"tensors": 15, "elements": ...}, ...}); '
            "null for safetensors",
            nullable=True,
        ),
        _CHAT_TEMPLATE,
        _str(
            "chat_template_sha256",
            "sha256 of the chat template text applied (the tokenizer's or the GGUF's); null without one",
            nullable=True,
            pattern=r"^[0-9a-f]{64}$",
        ),
        _bool("fewshot_as_multiturn", "with a chat template: few-shot examples as multi-turn chat", nullable=True),
        _str("system_instruction", "with a chat template: the system message set before every prompt", nullable=True),
        _str("suite", "the catalog suite that was planned"),
        _int("limit", "lm-eval --limit (null: the whole task)", nullable=True, min_value=1),
        _int("seed", "the seed every random choice used", min_value=0),
        _int(
            "batch_size",
            "requests per forward pass (lm-eval's batch_size; 1 on llama.cpp, which scores one request at a time); "
            "null on rows recorded before it was",
            nullable=True,
            min_value=1,
        ),
        _str(
            "scorer",
            "what scored log-likelihoods: shared-prefix (each shared token prefix once; within float32 rounding of "
            "lm-eval's HFLM), hflm (HFLM as it is) or llamacpp-prefix-cache; null on rows recorded before it was",
            nullable=True,
            allowed=SCORERS,
        ),
        _str("hardware", "JSON: the hardware profile (cpu, gpu, memory)"),
        _str("versions", "JSON: library versions (lm-eval, torch, llama-cpp, ...)"),
        _str("repo_commit", "git commit of this repo that ran the benchmark"),
        _str("flow_run_id", "the Prefect flow run id", nullable=True),
        _int("pr_number", "the pull request that asked for the run", nullable=True, min_value=1),
        _str("head_sha", "the pull request's head commit the submission was read at", nullable=True, pattern=GIT_SHA),
        _time("started_at", "when the run started (UTC)"),
        _time("finished_at", "when the run finished (UTC)"),
        _str("planned_tasks", "JSON list of the catalog tasks planned for this variant ('edge': the edge unit)"),
        _str(
            "task_definitions",
            "JSON list: each planned task as the run used it (task, lm_eval, category, metric, filter, num_fewshot, "
            "baseline, group, executes_code, config_hash, user, source; evals.catalog.definitions); the contracts, "
            "scoring and site read a run's tasks from here. Null on rows recorded before it was",
            nullable=True,
        ),
        _str(
            "tasks_folder",
            "the run folder's tasks/ on the machine that ran it: the copies of its user tasks' files, lm-eval's "
            "--include_path to reproduce them (evals.site.reproduce); null when it ran no user task",
            nullable=True,
        ),
        _int("n_units_planned", "work units planned for this variant", min_value=0),
        _int("n_units_succeeded", "work units that produced results", min_value=0),
        _str(
            "sandbox_isolation",
            "the sandbox isolation the variant's generated programs ran under (evals.sandbox; the weakest if its "
            "units differed); null when it ran no code",
            nullable=True,
            allowed=SANDBOX_ISOLATIONS,
        ),
        _str("error", "why the run failed: unit errors or failed expectations", nullable=True),
        Column("test_model", pl.Boolean(), "the submission says test_model: true (a fixture or test)", nullable=True),
        _str(
            "local_path",
            "where the submission says its weights are: fixture://<name> or a path (null: the hub, hf_repo)",
            nullable=True,
        ),
    ),
)

SCORES = Table(
    name="scores",
    doc="One row per run, variant, task, subtask, metric and filter, as lm-eval reported it.",
    keys=("run_id", "variant_id", "task", "subtask", "metric", "filter"),
    checks=(
        # each task sits in its own category
        Check(
            "task/category pair",
            _task_category_pairs,
            derive=lambda _: joined("task", "category"),
            sources=("task", "category"),
            needs=frozenset({"domains"}),
        ),
        # a bias score is signed: in [-1, 1] (the value column's own range covers proportions only)
        Check(
            "bias score in [-1, 1]",
            lambda domains, plan: [IN_BIAS_RANGE],
            derive=_bias_in_range,
            sources=("metric", "value"),
            needs=frozenset(),
        ),
        # the primary metric of every planned (variant, task), and nothing unplanned
        Check(
            "planned unit (variant/task) with its primary metric",
            _planned_task_units,
            derive=_primary_unit,
            sources=("variant_id", "task", "metric", "filter"),
            needs=frozenset({"domains", "plan"}),
            exactly=True,
        ),
    ),
    columns=(
        *_RUN_KEY,
        _str("model_name", "the submission's model name"),
        _str("task", "catalog task key", domain="task"),
        _str("subtask", "lm-eval task name; equals task unless a group was split"),
        _str("metric", "lm-eval metric name (acc, acc_norm, exact_match, pass@1, ...)"),
        _str("filter", "lm-eval filter name ('none' when the task has one)"),
        _float(
            "value",
            "the metric's value as lm-eval reports it (a proportion for accuracy-like metrics)",
            min_value=0.0,
            max_value=1.0,
            range_when=("metric", PROPORTION_METRICS),
        ),
        _float("stderr", "lm-eval's standard error (null where it reports N/A)", nullable=True, min_value=0.0),
        _int("n_samples", "documents evaluated", min_value=1),
        _str("category", "the catalog category of the task", domain="category"),
        _int("num_fewshot", "few-shot examples used", min_value=0),
        _str("task_version", "lm-eval's version of the task config"),
        _str(
            "task_config_hash",
            "sha256 of the lm-eval task's config, code and local data (evals.catalog.index); null on rows recorded "
            "before it was",
            nullable=True,
        ),
        _str(
            "dataset_revision",
            "the hub commit of the task's dataset, as located before planning (evals.catalog.task_data); null for "
            "local data (task_config_hash covers it) and on rows recorded before it was",
            nullable=True,
        ),
        _CHAT_TEMPLATE,
    ),
)

EDGE = Table(
    name="edge",
    doc="One row per run, variant and edge metric: mean of repeated measurements.",
    keys=("run_id", "variant_id", "metric"),
    # every edge metric of every variant that planned an edge unit, once
    checks=(
        Check(
            "planned edge measurement (variant/metric)",
            _planned_edge_metrics,
            derive=lambda _: joined("variant_id", "metric"),
            sources=("variant_id", "metric"),
            exactly=True,
            one_row_each=True,
        ),
    ),
    columns=(
        *_RUN_KEY,
        _str("metric", "an edge metric: " + ", ".join(EDGE_UNITS), allowed=tuple(EDGE_UNITS)),
        _float("mean", "mean over repetitions (> 0)", min_value=0.0, strict_min=True),
        _float("sd", "sample standard deviation (null with one repetition)", nullable=True, min_value=0.0),
        _int("repetitions", "measurements taken", min_value=1),
        _str("hardware_profile", "the named hardware profile the measurement ran on"),
        _str("unit", "the metric's unit", allowed=tuple(sorted(set(EDGE_UNITS.values())))),
        _str(
            "measured_in_run",
            "the earlier run that measured these figures, reused for the same weights on the same machine "
            "(evals/edge/reuse.py); null: measured in this run",
            nullable=True,
        ),
    ),
)

MODELS = Table(
    name="models",
    doc="The registry of published models, one row per model name.",
    keys=("name",),
    columns=(
        _str("name", "the submission's model name"),
        _str("family", "model family (llama, qwen2, ...)", nullable=True),
        _str("hf_repo", "hub repository", nullable=True),
        _str("revision", "hub commit of the latest published run", nullable=True),
        _int("parameters", "parameter count, as a number", nullable=True, min_value=1),
        _str("license", "SPDX license id", nullable=True),
        _str("architecture", "architecture (LlamaForCausalLM, ...)", nullable=True),
        _int("context_length", "maximum context, tokens", nullable=True, min_value=1),
        _str("submitted_by", "GitHub handle of the submitter", nullable=True),
        _str(
            "sources",
            "JSON list: where the weights published under this name come from (hub:<repo>, fixture:<name>, "
            "sha256:<digest> of local weights); with submitted_by, the identity that holds the name "
            "(contracts/identity.py); null on rows written before it was kept",
            nullable=True,
        ),
        _str(
            "gguf_tensor_types",
            "JSON: variant_id -> the tensor-type mix of each GGUF variant on the leaderboard (runs.tensor_types of "
            "its latest published run); null when the model has no GGUF variant",
            nullable=True,
        ),
        _time("first_published_at", "when a run of this model was first published"),
        _time("last_published_at", "when a run of this model was last published"),
        _str("last_run_id", "the latest published run of this model"),
        Column("test_model", pl.Boolean(), "its latest published submission says test_model: true", nullable=True),
    ),
)


def leaderboard(categories: Sequence[str]) -> Table:
    """The leaderboard table for these categories (one ``score_<category>`` column each): :data:`LEADERBOARD`
    for the catalog's, another for a scoring spec of its own (tests)."""
    scores = tuple(
        _float(f"score_{c}", f"{c} score, 0-100 (null: not measured)", nullable=True, min_value=0.0, max_value=100.0)
        for c in categories
    )
    normalized = tuple(
        _float(
            f"normalized_{c}",
            f"{c} score over baseline-normalized task scores, 0-100 (null: not measured)",
            nullable=True,
            min_value=0.0,
            max_value=100.0,
        )
        for c in categories
    )
    pct = {"min_value": 0.0, "max_value": 100.0}
    return Table(
        name="leaderboard",
        doc="One row per model variant: category scores, aggregates, interval, rank, edge figures.",
        keys=("model_name", "variant_id"),
        columns=(
            _str("model_name", "registry model name"),
            _str("variant_id", "the model variant"),
            _str("run_id", "the published run the row comes from"),
            _str("backend", " | ".join(BACKEND_NAMES), allowed=BACKEND_NAMES),
            _str("precision", "FP32/FP16/BF16 or the GGUF quantization", allowed=PRECISIONS),
            _CHAT_TEMPLATE,
            _int("parameters", "parameter count (null: not in the registry)", nullable=True, min_value=1),
            *scores,
            _float("aggregate", "weighted category scores, renormalized over measured weights", **pct),
            _float("aggregate_normalized", "the same over baseline-normalized task scores", **pct),
            _float("aggregate_ci_low", "95% interval, lower end", min_value=-100.0, max_value=100.0),
            _float("aggregate_ci_high", "95% interval, upper end", min_value=0.0, max_value=200.0),
            _float("coverage", "share of the category weight that was measured", min_value=0.0, max_value=1.0),
            Column("partial", pl.Boolean(), "true when some category was not measured"),
            _int("rank", "position in the default order (full coverage first, then aggregate)", min_value=1),
            _int(
                "rank_band",
                "deprecated (read rank_lo): 1 + rows whose interval lies wholly above this one; removed next release",
                min_value=1,
            ),
            _float("tokens_per_s", "edge: decode throughput", nullable=True, min_value=0.0, strict_min=True),
            _float("latency_ms", "edge: time to first token", nullable=True, min_value=0.0, strict_min=True),
            _float("peak_memory_gb", "edge: peak memory", nullable=True, min_value=0.0, strict_min=True),
            _int("data_version", "version of the published runs table the row was computed from", min_value=0),
            *normalized,
            Column("test_model", pl.Boolean(), "the run's submission says test_model: true", nullable=True),
            _int(
                "rank_lo",
                "best rank the paired tests allow: 1 + rows significantly better (Holm, 5%; evals.scoring rule 8)",
                nullable=True,
                min_value=1,
            ),
            _int(
                "rank_hi",
                "worst rank they allow: rows in the group - rows significantly worse",
                nullable=True,
                min_value=1,
            ),
            _float(
                "aggregate_se",
                "standard error of the aggregate (clustered, from the items)",
                nullable=True,
                min_value=0.0,
            ),
            _int(
                "limit",
                "documents per task of a smoke-test run published on purpose (publish --allow-limited): not "
                "comparable with complete runs, ranked after them; null: the run scored every document",
                nullable=True,
                min_value=1,
            ),
        ),
    )


# The catalog's categories are the submission contract's (tests/contracts checks that they agree).
LEADERBOARD = leaderboard(CATEGORIES)

RETENTION = Table(
    name="retention",
    doc=(
        "Quantization retention: one row per quantized variant, its unquantized reference in the same run, and "
        "category ('overall' for the aggregate): the quantized score as a percentage of the reference's."
    ),
    keys=("run_id", "variant_id", "category"),
    columns=(
        *_RUN_KEY,
        _str("model_name", "the submission's model name"),
        _str("precision", "the quantized variant's GGUF quantization", allowed=PRECISIONS),
        _str("reference_variant_id", "the unquantized variant it is compared with (FP32, else BF16, else FP16)"),
        _str("reference_precision", "the reference's precision", allowed=PRECISIONS),
        _str("category", "a catalog category, or 'overall'"),
        _float("score", "the quantized variant's score, 0-100", min_value=0.0, max_value=100.0),
        _float("reference_score", "the reference's score, 0-100", min_value=0.0, max_value=100.0),
        _float(
            "retention_pct",
            "100 x score / reference_score (null: the reference scored 0, so no ratio exists)",
            nullable=True,
            min_value=0.0,
        ),
        _float(
            "difference",
            "score - reference_score, points, over the items both answered (evals.scoring rule 7); null: no items kept",
            nullable=True,
            min_value=-100.0,
            max_value=100.0,
        ),
        _float("difference_ci_low", "paired 95% interval of the difference, lower end", nullable=True),
        _float("difference_ci_high", "paired 95% interval of the difference, upper end", nullable=True),
        _float(
            "p_value",
            "two-sided p-value of the paired test (null: no items kept)",
            nullable=True,
            min_value=0.0,
            max_value=1.0,
        ),
    ),
)


# The queue states only an event can tell; ``staged``, ``failed`` (after staging) and
# ``published`` are read from the runs tables themselves.
QUEUE_STATES = ("validated", "queued", "running", "failed")

QUEUE = Table(
    name="queue",
    doc=(
        "Submission events the runs tables cannot know, one row each, appended: a pull request's check passed "
        "(validated), a benchmark run was created (queued), a run is under way (running, with its progress), "
        "a run failed before it staged anything (failed). Kept in the staging zone."
    ),
    keys=("event_id",),
    columns=(
        _str("event_id", "a unique id for the event (uuid4)"),
        _time("at", "when it happened (UTC)"),
        _str("state", " | ".join(QUEUE_STATES), allowed=QUEUE_STATES),
        _str("submission_path", "the submission file, as the run names it (relative to the repository)"),
        _str("model_name", "the submission's model name, once read", nullable=True),
        _str("flow_run_id", "the Prefect flow run of the benchmark, once created", nullable=True),
        _str("run_id", "the benchmark run, once named", nullable=True),
        _int("pr_number", "the pull request, when the submission came from one", nullable=True, min_value=1),
        _str("head_sha", "the pull request's head commit", nullable=True, pattern=GIT_SHA),
        _int("units_done", "running: work units finished so far", nullable=True, min_value=0),
        _int("units_total", "running: work units planned", nullable=True, min_value=0),
        _str("detail", "failed: the error; otherwise what happened, in words", nullable=True),
        _str("run_dir", "the run's folder on the machine that ran it", nullable=True),
    ),
)


# lm-eval's request types, as a task's ``output_type`` names them.
OUTPUT_TYPES = ("multiple_choice", "loglikelihood", "loglikelihood_rolling", "generate_until")

SAMPLES = Table(
    name="samples",
    doc=(
        "One row per run, variant, task, subtask, filter and document: the exact prompt, the model's answer "
        "(each choice's log-likelihood, or the generated text and what the filter extracted), the target and "
        "whether it was right, from lm-eval's logged samples."
    ),
    keys=("run_id", "variant_id", "task", "subtask", "filter", "doc_id"),
    partition_by=("run_id",),
    # items of planned units only (a run staged before samples were kept has none: it stays publishable)
    checks=(
        Check(
            "planned unit (variant/task) of a sample",
            _planned_task_units,
            derive=lambda _: joined("variant_id", "task"),
            sources=("variant_id", "task"),
        ),
    ),
    columns=(
        *_RUN_KEY,
        _str("task", "catalog task key", domain="task"),
        _str("subtask", "lm-eval task name; equals task unless a group was split"),
        _str("filter", "lm-eval filter name ('none' when the task has one)"),
        _int("doc_id", "the document's index in the task's evaluation split, as lm-eval numbers it", min_value=0),
        _str(
            "category",
            "the item's category: the subtask of a split group, or the document field the catalog names",
            nullable=True,
        ),
        _str("output_type", "lm-eval's request type: " + ", ".join(OUTPUT_TYPES), allowed=OUTPUT_TYPES),
        _str("prompt", "the exact text the model was given, few-shot examples included"),
        _str("choices", "JSON list: each continuation the model scored (multiple choice), as given", nullable=True),
        _str("loglikelihoods", "JSON list: the model's log-likelihood of each continuation", nullable=True),
        _int(
            "pick",
            "the choice the primary metric takes as the answer (highest log-likelihood; per character for acc_norm)",
            nullable=True,
            min_value=0,
        ),
        _str("generation", "the generated text, as the model wrote it", nullable=True),
        _str("extracted", "what the filter made of the answer (text, or JSON when it is not text)", nullable=True),
        _str("target", "the reference answer (text, or JSON: a choice index)"),
        _str("metrics", "JSON: lm-eval's per-sample metric values"),
        Column(
            "correct",
            pl.Boolean(),
            "the task's primary metric is 1 (right) or 0 (wrong) on this row; null when it is not 0 or 1",
            nullable=True,
        ),
        _str(
            "sandbox", "code tasks: the sandbox's verdict (passed, failed, timed out, killed, and why)", nullable=True
        ),
        _float(
            "value",
            "the task's primary metric on this row as a number (1/0 for accuracy, a probability for mc2); null when "
            "it is not a number, and on rows recorded before it was kept (then ``correct`` holds it)",
            nullable=True,
        ),
        _str(
            "cluster",
            "the item's cluster for clustered standard errors: a digest of the document field the catalog's "
            "``cluster`` names (items that share a passage or source share it); null: the item stands alone",
            nullable=True,
        ),
    ),
)

# The tables a benchmark run stages, in the order they are written: runs last,
# because a runs row with status "staged" is what makes the other rows visible.
STAGED_TABLES: tuple[Table, ...] = (SCORES, EDGE, SAMPLES, RUNS)

# The tables of the warehouse, staged and published alike.
TABLES: dict[str, Table] = {t.name: t for t in (RUNS, SCORES, EDGE, MODELS, LEADERBOARD, SAMPLES, QUEUE)}
