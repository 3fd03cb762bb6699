"""What a run's rows will be held to, checked on each planned task's lm-eval config before any unit runs.

The contracts (``contracts.tables``) demand of a run's scores that every
planned task reports its primary metric under its filter, with at least one
document. Whether it will is written in the task's lm-eval config, so a task
that could never pass is refused here, in seconds, rather than after its
compute. Also refused here: tasks that would run model-generated code outside
``evals.sandbox`` (``unsafe_code``), and a user's task folder that would
silently replace one of the project's own tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.catalog.index import TaskIndex
from evals.catalog.suites import CatalogError, TaskEntry

# lm-eval's metrics for a task without a metric_list (lm_eval.api.registry.DEFAULT_METRIC_REGISTRY).
_DEFAULT_METRICS = {
    "loglikelihood": ("perplexity", "acc"),
    "loglikelihood_rolling": ("word_perplexity", "byte_perplexity", "bits_per_byte"),
    "multiple_choice": ("acc", "acc_norm"),
    "generate_until": ("exact_match",),
}
SANDBOXED_EXAMPLE = "evals/catalog/overrides/humaneval_sandboxed.yaml"


def check_planned_task(name: str, entry: TaskEntry, index: TaskIndex, where: str) -> None:
    """Raise :class:`CatalogError` naming the task, the field and the fix, when a run of it could not pass.

    ``where``: where the task's catalog entry comes from (shown in the message).
    """
    for subtask in index.leaf_tasks(entry.lm_eval):
        cfg = index.config(subtask)
        label = f"task {name!r} ({where}; lm-eval task {subtask!r})"
        _refuse_unsafe_code(label, cfg)
        _refuse_shadowing(label, subtask, index)
        if index.is_python_task(subtask):
            continue  # its metrics and filters are its class's own: lm-eval reports what it reports
        _check_metric(label, entry, cfg)
        _check_filter(label, entry, cfg)
        _check_data_files(label, cfg)
        if index.size(subtask) == 0:
            raise CatalogError(f"{label}: its evaluation split has no documents; fix the task's data_files")


def _check_data_files(label: str, cfg: dict[str, Any]) -> None:
    """Local data files must exist, and be absolute: lm-eval reads a relative one from the worker's folder."""
    data_files = (cfg.get("dataset_kwargs") or {}).get("data_files")
    values = data_files.values() if isinstance(data_files, dict) else [data_files] if data_files else []
    for value in values:
        for name in value if isinstance(value, list) else [value]:
            if not isinstance(name, str) or "://" in name or any(c in name for c in "*?["):
                continue  # a URL or a glob: datasets resolves it
            if not Path(name).is_absolute():
                raise CatalogError(
                    f"{label}: dataset_kwargs.data_files: {name!r} is relative; lm-eval reads it from the folder "
                    "each worker runs in, so give its absolute path"
                )
            if not Path(name).is_file():
                raise CatalogError(f"{label}: dataset_kwargs.data_files: {name} does not exist")


def _refuse_unsafe_code(label: str, cfg: dict[str, Any]) -> None:
    # lm-eval's own guard (simple_evaluate's confirm_run_unsafe_code, never set by our worker) would stop
    # the unit only once it runs; and lm-eval would then execute model output in the evaluating process.
    if cfg.get("unsafe_code"):
        raise CatalogError(
            f"{label}: it is marked unsafe_code: true, so its scoring runs model-generated programs in the "
            "evaluating process; SLM Bench runs such programs only in its sandbox (evals/sandbox/launcher.py) and never "
            f"asks lm-eval to run them. Score it through the sandbox instead, as {SANDBOXED_EXAMPLE} does "
            "for lm-eval's humaneval: keep the task's prompts, score with a metric that runs each program via "
            "evals.sandbox.run_python (evals/catalog/overrides/utils.py), drop unsafe_code, and mark the catalog "
            "entry executes_code: true"
        )


def _refuse_shadowing(label: str, subtask: str, index: TaskIndex) -> None:
    if subtask in index.shadowed and index.user_root(subtask) is not None:
        raise CatalogError(
            f"{label}: your task folder {index.user_root(subtask)} defines {subtask!r}, a task the project "
            "defines itself (the offline task pack or evals/catalog/overrides); yours would silently replace it. "
            "Give your task another name (its YAML's task: and the catalog entry's lm_eval)"
        )


def _check_metric(label: str, entry: TaskEntry, cfg: dict[str, Any]) -> None:
    metric_list = cfg.get("metric_list")
    if metric_list is None:
        reported = _DEFAULT_METRICS.get(cfg.get("output_type", "generate_until"), ())
    else:
        names = [m.get("metric") if isinstance(m, dict) else None for m in metric_list]
        # A metric given as code (!function) names itself when it runs; only lm-eval can tell.
        if any(not isinstance(n, str) or "/" in n for n in names):
            return
        reported = tuple(names)
        rule = next((m for m in metric_list if m.get("metric") == entry.metric), {})
        if rule.get("higher_is_better") is False:
            raise CatalogError(
                f"{label}: metric {entry.metric!r} is marked higher_is_better: false in the task's metric_list; "
                "the leaderboard ranks higher scores first, so use a metric where higher is better"
            )
    if entry.metric not in reported:
        raise CatalogError(
            f"{label}: metric {entry.metric!r} is not one the task reports ({', '.join(reported) or 'none'}); "
            f"set the catalog entry's metric to one of them, or add {entry.metric!r} to the task's metric_list"
        )


def _check_filter(label: str, entry: TaskEntry, cfg: dict[str, Any]) -> None:
    filter_list = cfg.get("filter_list")
    reported = ["none"] if not filter_list else [f.get("name") for f in filter_list if isinstance(f, dict)]
    if entry.filter not in reported:
        raise CatalogError(
            f"{label}: filter {entry.filter!r} is not one the task applies ({', '.join(map(str, reported))}); "
            "set the catalog entry's filter to one of them"
        )
