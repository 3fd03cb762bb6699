"""What a task costs to evaluate: the model requests of each document times their tokens.

A document costs the requests lm-eval sends the model for it: one log-likelihood
per choice for ``multiple_choice`` (TruthfulQA-MC2: 7.5 choices, each behind
the same long prompt), one for ``loglikelihood`` and ``loglikelihood_rolling``,
one generation for ``generate_until``. A request costs a fixed overhead
(:data:`REQUEST_OVERHEAD`: the call, the tokenizer, a forward pass on a short
input is not free) plus its tokens; a generation also pays for the tokens it
may generate, ``max_gen_toks`` of them at :data:`DECODE_WEIGHT` prompt tokens
each (one forward pass per generated token).

Tokens are counted as UTF-8 bytes / 4, without loading a tokenizer: the plan
must not load a model, and BPE vocabularies average about four bytes per token
on English text. The proxy is off by a constant factor for other vocabularies
(the demo models' small ones, non-English text), which moves every request of
a run alike; only ``max_gen_toks`` is in real tokens, so a run's generation
tasks may weigh somewhat more or less than its log-likelihood tasks.

Where a task's figures come from (:attr:`TaskCost.source`):

- ``requests``: lm-eval's own request construction (its templates, choices,
  few-shot examples) on up to :data:`SAMPLE_DOCS` evenly spaced documents of
  the task's local data, or of its hub data once located in the datasets cache
  (``evals.catalog.task_data``, before planning). Building every request of a large task is far too
  slow for a plan (lm-eval compiles its Jinja templates per document: 10,000
  HellaSwag-shaped documents with 10 few-shot examples take minutes), so the
  sample gives the mean per document and the few-shot context is costed as
  ``num_fewshot`` worked examples of the sampled documents.
- ``measured``: the request arguments an earlier complete run logged in its
  per-sample records, for tasks whose data was neither local nor located;
  kept with the unit cache (:class:`CostStore`).
- ``guess``: neither: a per-output-type figure, and 1,000 documents when the
  count is unknown.

Figures are stored per task config (which covers its local data), dataset
revision (a hub dataset's commit) and few-shot count, so a later plan reads
them in milliseconds instead of loading lm-eval.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from evals import paths
from evals.catalog.index import TaskIndex
from evals.catalog.task_data import TaskData, load_task

# Bump when the cost formula changes: stored figures of the old formula are then ignored.
COST_MODEL_VERSION = "1"
BYTES_PER_TOKEN = 4.0
REQUEST_OVERHEAD = 32.0  # token-equivalents per request
DECODE_WEIGHT = 10.0  # prompt tokens per generated token
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's HFLM default, and our llama.cpp backend's
SAMPLE_DOCS = 64
DEFAULT_DOCS = 1000

Source = Literal["requests", "measured", "guess"]

# (requests per document, prompt tokens per request, generated tokens per request) when nothing is known.
_GUESS: dict[str, tuple[float, float, float]] = {
    "multiple_choice": (4.0, 100.0, 0.0),
    "loglikelihood": (1.0, 100.0, 0.0),
    "loglikelihood_rolling": (1.0, 1000.0, 0.0),
    "generate_until": (1.0, 200.0, DEFAULT_MAX_GEN_TOKS),
}


def tokens(text: str) -> float:
    return len(text.encode("utf-8")) / BYTES_PER_TOKEN


def request_cost(args: Sequence[Any], extra_context_tokens: float = 0.0) -> float:
    """One request's cost from its lm-eval arguments: ``(context, continuation)``, ``(text,)`` or ``(context, gen_kwargs)``."""
    texts = [a for a in args if isinstance(a, str)]
    generated = 0.0
    for arg in args:
        if isinstance(arg, Mapping):  # generate_until's gen_kwargs
            generated = float(arg.get("max_gen_toks") or DEFAULT_MAX_GEN_TOKS)
    return REQUEST_OVERHEAD + extra_context_tokens + sum(tokens(t) for t in texts) + DECODE_WEIGHT * generated


@dataclass(frozen=True)
class TaskCost:
    """What one document of a task costs on average, and how many documents it has."""

    n_docs: int | None  # in the evaluated split; None: unknown
    per_doc: float  # token-equivalents
    requests_per_doc: float
    source: Source

    def docs(self, limit: int | None) -> int:
        """The documents a run with ``limit`` evaluates (:data:`DEFAULT_DOCS` when the count is unknown)."""
        n = self.n_docs if self.n_docs is not None else DEFAULT_DOCS
        return n if limit is None else min(n, limit)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def guess(output_type: str, n_docs: int | None) -> TaskCost:
    requests, prompt, generated = _GUESS.get(output_type, _GUESS["multiple_choice"])
    per_request = REQUEST_OVERHEAD + prompt + DECODE_WEIGHT * generated
    return TaskCost(n_docs, requests * per_request, requests, "guess")


def from_requests(
    n_docs: int,
    per_doc_args: Iterable[Sequence[Sequence[Any]]],
    fewshot_tokens: float = 0.0,
    source: Source = "requests",
) -> TaskCost:
    """A task's figures from the request arguments of some of its documents (one list of requests per document)."""
    costs, counts = [], []
    for requests in per_doc_args:
        costs.append(sum(request_cost(args, fewshot_tokens) for args in requests))
        counts.append(len(requests))
    if not costs:
        raise ValueError("from_requests: no document to cost")
    return TaskCost(n_docs, sum(costs) / len(costs), sum(counts) / len(counts), source)


def from_samples(samples: Sequence[Mapping[str, Any]], n_docs: int) -> TaskCost:
    """A task's figures from a run's logged samples (their ``arguments``: the requests exactly as sent)."""
    by_doc: dict[Any, Sequence[Sequence[Any]]] = {}
    for sample in samples:  # a task with several filters logs each document once per filter
        by_doc.setdefault(sample["doc_id"], sample["arguments"])
    return from_requests(n_docs, by_doc.values(), source="measured")


def profile_local_task(task: Any, num_fewshot: int | None) -> TaskCost:
    """Figures of a loaded lm-eval task, from its own request construction on a sample of its documents.

    ``task`` is an lm-eval ``Task`` whose data is local (loading it reads no hub).
    """
    docs = task.eval_docs
    n = len(docs)
    if n == 0:
        return TaskCost(0, 0.0, 0.0, "requests")
    shots = task.config.num_fewshot if num_fewshot is None else num_fewshot
    step = max(1, n // SAMPLE_DOCS)
    picked = [(i, docs[i]) for i in range(0, n, step)][:SAMPLE_DOCS]
    per_doc_args = []
    worked = []
    for i, doc in picked:
        context = task.fewshot_context(doc, 0)
        requests = task.construct_requests(doc=doc, ctx=context, metadata=(task.task_name, i, 1))
        requests = requests if isinstance(requests, list) else [requests]
        per_doc_args.append([r.args for r in requests])
        if shots:  # a worked example: the question as prompted, and an answer (a choice's continuation)
            first = requests[0].args
            answer = first[1] if len(first) > 1 and isinstance(first[1], str) else str(task.doc_to_target(doc))
            worked.append(
                sum(tokens(c) for c in ([context] if isinstance(context, str) else context[:1])) + tokens(answer)
            )
    fewshot = (shots or 0) * (sum(worked) / len(worked) if worked else 0.0)
    return from_requests(n, per_doc_args, fewshot)


def cost_key(task_config_hash: str, num_fewshot: int | None, dataset_revision: str | None = None) -> str:
    """Figures depend on the task's config and local data (its config hash), its hub data's commit and the few-shot count."""
    key: dict[str, Any] = {"model": COST_MODEL_VERSION, "task_config": task_config_hash, "num_fewshot": num_fewshot}
    if dataset_revision is not None:
        key["dataset_revision"] = dataset_revision
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


class CostStore:
    """Task figures kept beside the unit cache (``<cache>/costs/<key>.json``), written atomically."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or paths.cache_dir()) / "costs"

    def get(self, key: str) -> TaskCost | None:
        try:
            data = json.loads((self.root / f"{key}.json").read_text())
            return TaskCost(**data)
        except (OSError, ValueError, TypeError):
            return None

    def put(self, key: str, cost: TaskCost) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cost-", dir=self.root)
        with os.fdopen(fd, "w") as out:
            out.write(cost.to_json())
        os.replace(tmp, self.root / f"{key}.json")


def estimate(
    index: TaskIndex,
    wanted: Iterable[tuple[str, int | None]],
    *,
    profile: bool,
    store: CostStore | None = None,
    task_data: Mapping[str, TaskData] | None = None,
) -> dict[str, TaskCost]:
    """Figures of each ``(lm-eval task, few-shot count)``: stored ones first, else built, else a guess.

    Tasks with local data are built when ``profile`` allows loading lm-eval's task objects (seconds
    the first time, the figures are then stored); without it they are guessed, with their real
    document count. Tasks whose hub data is located (``task_data``) are always built: the rows are
    in the datasets cache, and no other figure of them is known.
    """
    store = store or CostStore()
    located = task_data or {}
    out: dict[str, TaskCost] = {}
    missing: list[tuple[str, int | None, str]] = []
    for name, shots in wanted:
        data = located.get(name)
        key = cost_key(index.config_hash(name), shots, data.revision if data else None)
        stored = store.get(key)
        local = index.has_local_data(name)
        buildable = data is not None or (profile and local)
        # Local data is costed from lm-eval's requests when allowed, even where a run measured a few documents.
        if stored is not None and not (buildable and stored.source != "requests"):
            out[name] = stored
        elif buildable:
            missing.append((name, shots, key))
        else:
            out[name] = _guessed(index, name)
    if missing:
        from lm_eval.tasks import TaskManager

        manager = TaskManager(include_path=list(index.include_paths) or None, include_defaults=index.uses_builtin)
        for name, shots, key in missing:
            try:
                data = located.get(name)
                out[name] = profile_local_task(load_task(manager, name, data.revision if data else None), shots)
            except Exception:  # a task lm-eval cannot load: its unit reports lm-eval's error when it runs (as data)
                out[name] = _guessed(index, name)
                continue
            store.put(key, out[name])
    return out


def record_measured(units: Iterable[tuple[str, str, int | None, Path]], store: CostStore | None = None) -> int:
    """Keep the figures of tasks a run evaluated whole, from their logged requests; returns how many were new.

    Each item is ``(lm-eval task, task config hash, few-shot count, unit folder)``. Figures are
    written once: the first complete measurement decides a task's shards for later plans, so a
    rerun plans (and finds cached) the same shards.
    """
    store = store or CostStore()
    added = 0
    for name, config_hash, shots, folder in units:
        key = cost_key(config_hash, shots)
        if store.get(key) is not None:
            continue
        results = json.loads((folder / "results.json").read_text())
        with (folder / "samples.jsonl").open() as lines:
            samples = [json.loads(line) for line in lines if line.strip()]
        if not samples:
            continue
        n_docs = int(results["n-samples"][name]["original"])
        store.put(key, from_samples(samples, n_docs))
        added += 1
    return added


def _guessed(index: TaskIndex, name: str) -> TaskCost:
    """A guess by output type, over the task's real document count when its data is local."""
    return guess(str(index.config(name).get("output_type", "multiple_choice")), index.size(name))
