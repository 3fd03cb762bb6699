"""What planning needs to know of lm-eval tasks, without loading their data.

lm-eval's own index (``lm_eval.tasks._index.TaskIndex``) parses every task
YAML; we use it to expand groups into leaf tasks, read configs and hash them.
Indexing lm-eval's ~15,000 built-in tasks takes about 10 s on 2 cores, so the
built-ins are indexed only when a wanted name is not in the include paths.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from contracts.names import did_you_mean
from evals.catalog import CatalogError


class TaskIndex:
    def __init__(self, entries: dict[str, Any], uses_builtin: bool, include_paths: tuple[str, ...] = ()) -> None:
        self._entries = entries
        self.uses_builtin = uses_builtin
        self.include_paths = include_paths  # the task folders indexed, before lm-eval's built-ins
        self._hashes: dict[str, str] = {}  # config hashes read the task's data files: once per task

    @classmethod
    def for_names(cls, names: Iterable[str], include_paths: Iterable[str]) -> TaskIndex:
        from lm_eval.tasks._index import TaskIndex as LmEvalIndex

        names, include_paths = list(names), list(include_paths)
        roots = [Path(p) for p in include_paths]
        for root in roots:
            if not root.is_dir():
                raise CatalogError(
                    f"tasks folder {root} does not exist; fix --tasks-dir or the suite file's tasks_dirs"
                )
        entries = LmEvalIndex.build(roots) if roots else {}
        uses_builtin = False
        if any(n not in entries for n in names):
            import lm_eval.tasks

            builtin = LmEvalIndex.build([Path(lm_eval.tasks.__file__).parent])
            entries = {**builtin, **entries}  # include paths override built-ins, as in lm-eval
            uses_builtin = True
        index = cls(entries, uses_builtin, tuple(str(p) for p in include_paths))
        for name in names:
            index._entry(name)
        return index

    def _entry(self, name: str) -> Any:
        entry = self._entries.get(name)
        if entry is None:
            raise CatalogError(
                f"lm-eval knows no task {name!r}{did_you_mean(name, self._entries)}; add its YAML folder with --tasks-dir, or fix the catalog entry"
            )
        return entry

    def leaf_tasks(self, name: str) -> list[str]:
        """A task itself, or every task a group/tag contains (depth first, deduplicated)."""
        from lm_eval.tasks._index import Kind

        entry = self._entry(name)
        if entry.kind in (Kind.TASK, Kind.PY_TASK):
            return [name]
        if entry.kind == Kind.TAG:
            members = sorted(n for n, e in self._entries.items() if name in e.tags)
        else:
            members = [m if isinstance(m, str) else m.get("task", m.get("group")) for m in entry.cfg.get("task", [])]
        leaves: list[str] = []
        for member in members:
            for leaf in self.leaf_tasks(member):
                if leaf not in leaves:
                    leaves.append(leaf)
        return leaves

    def config(self, name: str) -> dict[str, Any]:
        return dict(self._entry(name).cfg or {})

    def size(self, name: str) -> int | None:
        """Number of documents in a local JSON/JSONL test split, if the task has one."""
        files = self._local_data_files(name)
        if not files:
            return None
        return sum(1 for f in files for line in f.open("rb") if line.strip())

    def has_local_data(self, name: str) -> bool:
        """Whether the task reads its documents from local files (loading it reaches no hub)."""
        return bool(self._local_data_files(name))

    def config_hash(self, name: str) -> str:
        """The task's config, its code and its local data, independent of where they lie."""
        if name not in self._hashes:
            self._hashes[name] = self._config_hash(name)
        return self._hashes[name]

    def _config_hash(self, name: str) -> str:
        entry = self._entry(name)
        root = str(Path(entry.yaml_path).parent) if entry.yaml_path else ""
        digest = hashlib.sha256()
        digest.update(json.dumps(entry.cfg, sort_keys=True, default=str).replace(root, "<task_dir>").encode())
        if root:
            for code in sorted(Path(root).glob("*.py")):
                digest.update(code.name.encode() + code.read_bytes())
        for data in self._local_data_files(name):
            digest.update(hashlib.sha256(data.read_bytes()).digest())
        return digest.hexdigest()

    def _local_data_files(self, name: str) -> list[Path]:
        cfg = self._entry(name).cfg or {}
        data_files = (cfg.get("dataset_kwargs") or {}).get("data_files")
        if not data_files:
            return []
        split = cfg.get("test_split") or cfg.get("validation_split")
        if isinstance(data_files, dict):
            chosen = data_files.get(split) if split else None
            values = [chosen] if chosen else list(data_files.values())
        else:
            values = [data_files]
        files = [Path(v) for group in values for v in (group if isinstance(group, list) else [group])]
        return [f for f in files if f.is_file()]
