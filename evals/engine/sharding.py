"""Document-range shards: where a large task splits, how a shard runs, how shards merge back.

One large task is often most of a suite (TruthfulQA-MC2, HellaSwag, GSM8K
generation), and a unit runs on one worker, so on N workers the longest unit
bounds the run. Planning splits such a task into shards: the same variant and
lm-eval task over a range of its documents ``[start, stop)``, run with
lm-eval's own document selection (``simple_evaluate(samples={task: range})``,
which evaluates the documents whose index is in the range, in document order,
and logs each sample with its index in the whole task).

A sharded task gives exactly the unsharded numbers:

- **Few-shot examples.** lm-eval draws each document's examples from one random
  stream per task, document after document, so document 100's examples depend
  on the 100 draws before it. A shard starting at document ``start`` makes
  those ``start`` draws first (:func:`replay_fewshot_draws`), so every document
  gets the prompt it gets in a whole run. (lm-eval's own data-parallel ranks do
  not, and their few-shot prompts differ from a single process's: see the TODO
  in ``Task.build_all_requests``.)
- **Metrics and stderr.** The shards' per-sample records are put back in
  document order and aggregated by lm-eval as it aggregates the records its
  data-parallel ranks gather (``lm_eval.evaluator_utils._collect_results``: the
  task's own aggregation functions and lm-eval's stderr code). Nothing here
  computes a metric.
- **Groups.** Planning splits a group into its leaf tasks; each leaf merges
  here, and the group is aggregated from its leaves as before (``evals.scoring``
  with lm-eval's group helpers).

Exact means: equal to the unsharded run to float rounding, when a request's
numbers do not depend on the requests scored before it (transformers at batch
size 1). llama.cpp reuses the KV cache of the previous request's prefix; at a
shard boundary the previous request differs, which moves log-likelihoods by
float rounding (under 1e-6: tests/evals/backends).
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

# Planning: no unit costs more than 1 / GRANULARITY of its variant's total cost, so
# up to GRANULARITY workers share a variant evenly; fixed (not the worker count) so
# that a unit's shards, hence its cache keys, are the same however many workers run it.
GRANULARITY = 8
# A shard has at least this many documents: below it, loading the task for a shard
# costs more than the shard saves.
MIN_SHARD_DOCS = 32
# simple_evaluate's default, so merged stderrs are computed as an unsharded run's are.
BOOTSTRAP_ITERS = 100000

DocRange = tuple[int, int]


def shard_count(cost: float, n_docs: int, variant_cost: float, granularity: int = GRANULARITY) -> int:
    """How many shards a task of ``cost`` over ``n_docs`` documents splits into (1: it stays whole)."""
    if granularity <= 1 or variant_cost <= 0 or cost <= 0:
        return 1
    by_cost = math.ceil(cost * granularity / variant_cost - 1e-9)
    return max(1, min(by_cost, n_docs // MIN_SHARD_DOCS))


def shard_ranges(n_docs: int, shards: int) -> list[DocRange]:
    """``shards`` contiguous ranges covering ``[0, n_docs)``, their sizes within one document of each other."""
    edges = [i * n_docs // shards for i in range(shards + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def replay_fewshot_draws(task: Any, n_docs: int) -> None:
    """Draw the few-shot examples of the task's first ``n_docs`` documents, as a whole run would, and discard them.

    Call it right after the task's few-shot seed is set. For lm-eval's configurable tasks this is
    the one sampler call ``ConfigurableTask.fewshot_context`` makes per document (without its
    prompt rendering, which is the slow part); other tasks build their contexts.
    """
    shots = task.config.num_fewshot
    if not shots or n_docs <= 0:
        return
    docs = itertools.islice(task.doc_iterator(), n_docs)
    sampler = getattr(task, "sampler", None)
    fewshot_cfg = getattr(task, "fewshot_cfg", None)
    if sampler is not None and fewshot_cfg is not None:
        same_split = fewshot_cfg.split == task.config.test_split
        for _, doc in docs:
            sampler.sample(n=shots, eval_doc=doc if same_split else None)
    else:
        for _, doc in docs:
            task.fewshot_context(doc, shots)


def replaying_fewshot(task: Any, first_doc: int) -> Any:
    """The task, made to replay the draws of the documents before ``first_doc`` whenever its seed is set.

    ``simple_evaluate`` sets the few-shot seed of the tasks it is given just before it builds their
    requests; hooking that one call keeps the rest of lm-eval's pipeline as it is.
    """
    if first_doc <= 0:
        return task
    set_seed = task.set_fewshot_seed

    def set_fewshot_seed(seed: int | None = None) -> None:
        set_seed(seed=seed)
        replay_fewshot_draws(task, first_doc)

    task.set_fewshot_seed = set_fewshot_seed
    return task


def in_document_order(shard_samples: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The shards' records (shards in document order) as one run logs them: filter by filter, then by document."""
    by_filter: dict[str, list[dict[str, Any]]] = {}
    for samples in shard_samples:
        for sample in samples:
            by_filter.setdefault(sample["filter"], []).append(sample)
    return [sample for samples in by_filter.values() for sample in samples]


def merge(
    task: Any, name: str, shards: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]], limit: int | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """lm-eval's results and samples of the whole task, from its shards' ``(results, samples)`` in document order.

    ``task`` is the lm-eval task object (its aggregation functions); the configs, versions and
    few-shot counts are the shards' own (the same in each).
    """
    from lm_eval.evaluator_utils import _collect_results

    samples = in_document_order([s for _, s in shards])
    raw: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for sample in samples:
        for metric in sample["metrics"]:
            raw[(metric, sample["filter"])].append(sample[metric])
    collected = _collect_results(
        {name: {"task": task, "raw_metrics": raw, "logged_samples": samples}}, {}, BOOTSTRAP_ITERS
    )
    results = json.loads(json.dumps(shards[0][0]))
    results["results"][name] = collected.metrics[name]
    results["n-samples"][name] = collected.n_samples[name]
    results.setdefault("config", {})["limit"] = limit
    return json.loads(json.dumps(results, default=plain)), samples


def plain(value: Any) -> Any:
    """JSON for what lm-eval leaves in results and samples: numpy scalars as numbers, anything else as text."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return str(value)
