"""Task data located before planning: each hub dataset fetched into the datasets cache, at a known commit.

A task whose lm-eval config reads a hub dataset (``dataset_path``, no local
``data_files``) is located here, as weights are located before the plan: its
config is loaded with ``datasets`` (through ``HF_ENDPOINT``, a mirror or the
real hub; or, with ``HF_DATASETS_OFFLINE=1``, from a warm cache alone), which
fetches every split into the cache and says which commit it resolved
(``DatasetBuilder.hash``, the repo's commit sha for a hub dataset, online and
offline). That commit is the task's dataset **revision**: recorded with every
score and part of the unit's cache key, so new upstream data is never served
the old cached scores. A catalog entry may pin it (``revision``); the run then
loads that commit and nothing else.

Also checked here, naming the task and the field: every split the task's config
reads (``test_split``, ``validation_split``, ``training_split``,
``fewshot_split``) is in the data. A gated repo without a token is one line that
names the repo and ``HF_TOKEN``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evals.catalog.index import TaskIndex
from evals.catalog.suites import CatalogError, TaskEntry

SPLIT_FIELDS = ("test_split", "validation_split", "training_split", "fewshot_split")


class DatasetAccessError(CatalogError):
    """A task's dataset cannot be read with the credentials at hand (a gated or missing repo)."""


@dataclass(frozen=True)
class TaskData:
    """Where one lm-eval task's documents come from, once located."""

    path: str  # the hub dataset repo (lm-eval's dataset_path)
    name: str | None  # its config (dataset_name)
    revision: str  # the commit the hub resolved (or the pinned one)
    rows: dict[str, int] = field(default_factory=dict)  # documents per split

    @property
    def label(self) -> str:
        return f"{self.path}{':' + self.name if self.name else ''}@{self.revision[:12]}"


def hub_dataset(cfg: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """``(dataset_path, dataset_name)`` of a task that reads a hub dataset; None for local files or custom code."""
    path = cfg.get("dataset_path")
    kwargs = cfg.get("dataset_kwargs") or {}
    if not isinstance(path, str) or kwargs.get("data_files") or cfg.get("custom_dataset"):
        return None
    if path in ("json", "csv", "parquet", "text", "arrow") or path.startswith((".", "/")):
        return None  # a builder over local files, or a local folder
    return path, cfg.get("dataset_name")


def locate_task_data(index: TaskIndex, entries: Iterable[tuple[str, TaskEntry]]) -> dict[str, TaskData]:
    """Every hub-backed lm-eval task of ``entries``, fetched into the datasets cache; keyed by lm-eval task name.

    One fetch per (repo, config, revision): MMLU's 57 subjects are 57 configs of one repo.
    """
    located: dict[tuple[str, str | None, str | None], TaskData] = {}
    out: dict[str, TaskData] = {}
    for name, entry in entries:
        for subtask in index.leaf_tasks(entry.lm_eval):
            cfg = index.config(subtask)
            repo = hub_dataset(cfg)
            if repo is None:
                if entry.revision is not None:
                    raise CatalogError(
                        f"task {name!r} (lm-eval task {subtask!r}): revision: {entry.revision!r} pins a hub dataset's "
                        "commit, but the task reads local data (its config hash covers it); drop the pin"
                    )
                continue
            key = (*repo, entry.revision)
            if key not in located:
                located[key] = _fetch(name, subtask, repo[0], repo[1], entry.revision)
            data = located[key]
            _check_splits(name, subtask, cfg, data)
            out[subtask] = data
    return out


def _fetch(task: str, subtask: str, path: str, name: str | None, revision: str | None) -> TaskData:
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    try:
        builder = datasets.load_dataset_builder(path, name, revision=revision)
        builder.download_and_prepare()
    except DatasetNotFoundError as exc:
        if "gated" in str(exc):
            raise DatasetAccessError(
                f"task {task!r} (lm-eval task {subtask!r}): dataset {path} is gated on the hub; accept its terms "
                f"at https://huggingface.co/datasets/{path} and set HF_TOKEN to a token of an account with access"
            ) from None
        raise DatasetAccessError(
            f"task {task!r} (lm-eval task {subtask!r}): dataset {path}{'@' + revision if revision else ''} "
            "was not found on the hub (HF_ENDPOINT) nor in the datasets cache; check the repo id and revision, "
            "set HF_TOKEN for a private repo, or pre-fetch it (docs/operations.md, The full suite)"
        ) from None
    except ConnectionError:
        if datasets.config.HF_HUB_OFFLINE:  # not a hiccup to retry: nothing may be fetched
            raise DatasetAccessError(
                f"task {task!r} (lm-eval task {subtask!r}): dataset {path}{':' + name if name else ''} is not in the "
                "datasets cache, and SLM Bench runs offline by default; run with HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 "
                "(and HF_ENDPOINT for a mirror) to fetch it, or pre-fetch it (docs/operations.md, The full suite)"
            ) from None
        raise  # the hub did not answer: the locate-task-data step retries (tasks.benchmark._dataset_hub_hiccup)
    except ValueError as exc:  # an unknown config name: datasets lists the ones there are
        if "BuilderConfig" in str(exc) or "Config name" in str(exc):
            raise CatalogError(f"task {task!r} (lm-eval task {subtask!r}): dataset_name: {exc}") from None
        raise
    splits = builder.info.splits or {}
    rows = {split: int(info.num_examples) for split, info in splits.items()}
    return TaskData(path, name, str(builder.hash), rows)


def _check_splits(task: str, subtask: str, cfg: Mapping[str, Any], data: TaskData) -> None:
    for split_field in SPLIT_FIELDS:
        split = cfg.get(split_field)
        if isinstance(split, str) and split not in data.rows:
            raise CatalogError(
                f"task {task!r} (lm-eval task {subtask!r}): {split_field}: split {split!r} is not in its data "
                f"{data.label} (it has {', '.join(sorted(data.rows)) or 'none'}); fix the task's {split_field} "
                "or the dataset"
            )


def task_overrides(cfg: Mapping[str, Any], revision: str | None) -> dict[str, Any] | None:
    """lm-eval config overrides that load a task's dataset at ``revision`` (``datasets.load_dataset(revision=...)``)."""
    if revision is None:
        return None
    return {"dataset_kwargs": {**(cfg.get("dataset_kwargs") or {}), "revision": revision}}


def load_task(manager: Any, name: str, revision: str | None = None) -> Any:
    """lm-eval's task object ``name`` (its data loaded), its dataset at ``revision`` when one is given.

    lm-eval 0.4.13 takes config overrides of a registered task only inside its task factory (a dict
    spec given to ``TaskManager.load`` is an inline task without the YAML it names), so a pinned
    revision goes through the factory the manager itself builds tasks with.
    """
    if revision is None:
        return manager.load([name])["tasks"][name]
    entry = manager.task_index[name]
    overrides = task_overrides(entry.cfg or {}, revision)
    return manager._factory.build(entry, overrides=overrides, registry=manager.task_index)
