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
from evals.catalog.suites import CatalogError
from evals.provenance import REPO_ROOT

_CHECKOUT = str(REPO_ROOT).encode()


class TaskIndex:
    def __init__(
        self,
        entries: dict[str, Any],
        uses_builtin: bool,
        include_paths: tuple[str, ...] = (),
        user_paths: tuple[str, ...] = (),
        shadowed: frozenset[str] = frozenset(),
    ) -> None:
        self._entries = entries
        self.uses_builtin = uses_builtin
        self.include_paths = include_paths  # the task folders indexed, before lm-eval's built-ins
        self._hashes: dict[str, str] = {}  # config hashes read the task's data files: once per task
        self.user_paths = user_paths  # those of them the user gave (--tasks-dir, a suite file's tasks_dirs)
        self.shadowed = shadowed  # task names a user folder defines that the project's own folders define too

    @classmethod
    def for_names(cls, names: Iterable[str], include_paths: Iterable[str], user_paths: Iterable[str] = ()) -> TaskIndex:
        """The index of ``include_paths`` (lm-eval's built-ins too when a name needs them).

        ``user_paths``: those include paths the user gave; the rest are the project's own.
        """
        from lm_eval.tasks._index import Kind
        from lm_eval.tasks._index import TaskIndex as LmEvalIndex

        names, include_paths, user_paths = list(names), list(include_paths), list(user_paths)
        roots = [Path(p) for p in include_paths]
        for root in roots:
            if not root.is_dir():
                raise CatalogError(
                    f"tasks folder {root} does not exist; fix --tasks-dir or the suite file's tasks_dirs"
                )
        user_roots = [Path(p) for p in user_paths]
        project = LmEvalIndex.build([r for r in roots if r not in user_roots])
        user = LmEvalIndex.build([r for r in roots if r in user_roots])
        entries = {**project, **user}  # later include paths override earlier ones, as in lm-eval
        uses_builtin = False
        if any(n not in entries for n in names):
            import lm_eval.tasks

            builtin = LmEvalIndex.build([Path(lm_eval.tasks.__file__).parent])
            entries = {**builtin, **entries}  # include paths override built-ins, as in lm-eval
            uses_builtin = True
        shadowed = frozenset(n for n, e in user.items() if n in project and e.kind != Kind.TAG)
        index = cls(entries, uses_builtin, tuple(str(p) for p in include_paths), tuple(user_paths), shadowed)
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

    def is_python_task(self, name: str) -> bool:
        """A task defined by a Python class (``class: !function ...``): its metrics are the class's own."""
        from lm_eval.tasks._index import Kind

        return self._entry(name).kind == Kind.PY_TASK

    def yaml_path(self, name: str) -> Path | None:
        path = self._entry(name).yaml_path
        return Path(path) if path else None

    def user_root(self, name: str) -> Path | None:
        """The user's task folder that defines ``name``, or None for the project's or lm-eval's own."""
        path = self.yaml_path(name)
        for root in map(Path, self.user_paths):
            if path is not None and path.resolve().is_relative_to(root.resolve()):
                return root
        return None

    def source_files(self, name: str) -> list[Path]:
        """The files that define a task, not its data: its YAML, the YAMLs it includes, and the code beside it.

        All the ``*.py`` beside the YAML, as :meth:`config_hash` counts them.
        """
        path = self.yaml_path(name)
        if path is None:
            return []
        chain: list[Path] = []
        pending = [path]
        while pending:
            current = pending.pop()
            if current in chain or not current.is_file():
                continue
            chain.append(current)
            pending += [current.parent / inc for inc in _includes(current)]
        return chain + sorted(path.parent.glob("*.py"))

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
                # the offline pack's utils.py names the checkout it was built from (to import the sandbox):
                # the same code in another checkout is the same task
                digest.update(code.name.encode() + code.read_bytes().replace(_CHECKOUT, b"<checkout>"))
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


def _includes(path: Path) -> list[str]:
    """The ``include:`` names of one task YAML (lm-eval's ``!function`` tags read as plain text)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 (a SafeLoader)
    except (OSError, yaml.YAMLError):
        return []
    include = data.get("include") if isinstance(data, dict) else None
    return [include] if isinstance(include, str) else [i for i in include or [] if isinstance(i, str)]
