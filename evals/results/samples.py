"""lm-eval's logged samples of a unit, as rows of the ``samples`` table: what the model saw and answered.

lm-eval logs one record per document and filter: the requests it made
(``arguments``: the context with each continuation, or the context with the
generation settings), the model's responses before and after the task's
filter (``resps``, ``filtered_resps``), the target, and every per-sample
metric. A row keeps what a reader needs to see why a score is what it is:

- ``prompt``: the context of the document's first request, exactly as the
  model was given it (few-shot examples, delimiters and chat template included);
- multiple choice: each continuation as scored (``choices``), its
  log-likelihood (``loglikelihoods``) and ``pick``, the choice the primary
  metric counts as the answer (lm-eval's rule: the highest log-likelihood,
  divided by the choice's length in characters for ``acc_norm`` and in bytes
  for ``acc_bytes``). Where each choice has a context of its own and they share
  the continuation (winogrande), the prompt is the contexts' common start and
  each choice the rest of its context followed by the continuation;
- generation: the text as generated (``generation``) and what the filter
  made of it (``extracted``);
- ``correct``: the task's primary metric on this row, when it is 0 or 1;
  ``value``: the same as a number, whatever it is (mc2's probability too);
- ``cluster``: a digest of the document field the catalog's ``cluster``
  names (BoolQ's passage, HellaSwag's source): items that share it are one
  cluster for the standard errors (``evals.comparisons``);
- ``sandbox``: the verdict code tasks log (``evals.catalog.overrides``,
  the task pack's ``slmb_code``).

The values are lm-eval's; nothing is rescored. The document itself is not
kept (the prompt holds what the model saw of it), except the field the
catalog names as the item's category.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.engine.cache import SAMPLES


@dataclass(frozen=True)
class SampleRule:
    """How one task's samples are read: its primary metric and where an item's category comes from."""

    metric: str  # decides ``correct`` and ``pick``
    category_field: str | None = None  # a document field (catalog ``item_category``)
    by_subtask: bool = False  # a split group: the subtask is the category
    cluster_field: str | None = None  # a document field items share a cluster by (catalog ``cluster``)


def read_samples(folder: Path) -> Iterator[dict[str, Any]]:
    """The samples lm-eval logged for the unit filed in ``folder`` (one JSON object a line)."""
    with (folder / SAMPLES).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def unit_sample_rows(
    run_id: str,
    variant_id: str,
    task: str,
    subtask: str,
    results: dict[str, Any],
    samples: Iterable[dict[str, Any]],
    rule: SampleRule,
) -> list[dict[str, Any]]:
    """One ``samples`` row per logged sample of ``subtask`` (``results``: the unit's lm-eval results)."""
    config = results.get("configs", {}).get(subtask, {})
    output_type = config.get("output_type", "generate_until")
    delimiter = config.get("target_delimiter", " ")
    rows = []
    for sample in samples:
        row = {
            "run_id": run_id,
            "variant_id": variant_id,
            "task": task,
            "subtask": subtask,
            "filter": str(sample.get("filter", "none")),
            "doc_id": int(sample["doc_id"]),
            "category": _category(sample.get("doc"), subtask, rule),
            "output_type": output_type,
            **_answer(sample, output_type, delimiter, rule.metric),
            "target": _text(sample.get("target")),
            "metrics": json.dumps({m: sample.get(m) for m in sample.get("metrics", [])}, default=str),
            "correct": _binary(sample.get(rule.metric)),
            "sandbox": sample.get("sandbox") if isinstance(sample.get("sandbox"), str) else None,
            "value": _number(sample.get(rule.metric)),
            "cluster": _cluster(sample.get("doc"), rule.cluster_field),
        }
        rows.append(row)
    return rows


def _answer(sample: dict[str, Any], output_type: str, delimiter: str, metric: str) -> dict[str, Any]:
    """prompt, choices, loglikelihoods, pick, generation and extracted of one sample."""
    arguments = sample.get("arguments") or [[""]]
    prompt = arguments[0][0] if arguments[0] else ""
    answer: dict[str, Any] = {
        "prompt": _text(prompt),
        "choices": None,
        "loglikelihoods": None,
        "pick": None,
        "generation": None,
        "extracted": None,
    }
    filtered = sample.get("filtered_resps") or []
    if output_type in ("multiple_choice", "loglikelihood"):
        # acc_mutual_info adds unconditional requests (an empty context) after the real ones
        scored = [i for i, args in enumerate(arguments) if len(args) > 1 and (args[0] != "" or prompt == "")]
        contexts = [str(arguments[i][0]) for i in scored]
        choices = [str(arguments[i][1]) for i in scored]
        if len(set(contexts)) > 1:
            # one context per choice, the same continuation (winogrande): the shared start is the prompt,
            # each choice is the rest of its context followed by the continuation
            shared = os.path.commonprefix(contexts)
            answer["prompt"] = shared
            choices = [context[len(shared) :] + choice for context, choice in zip(contexts, choices, strict=True)]
            metric = metric if metric == "acc" else ""  # per-character rules apply to lm-eval's own choice texts
        lls = [_loglikelihood(filtered[i]) for i in scored if i < len(filtered)]
        answer |= {"choices": json.dumps(choices), "loglikelihoods": json.dumps(lls)}
        if output_type == "multiple_choice" and lls and len(lls) == len(choices) and metric:
            answer["pick"] = _pick(lls, [c.removeprefix(delimiter) for c in choices], metric)
    elif output_type == "loglikelihood_rolling":
        answer["loglikelihoods"] = json.dumps([_loglikelihood(r) for r in filtered])
    else:
        responses = sample.get("resps") or [[]]
        first = responses[0][0] if responses and responses[0] else None
        answer["generation"] = first if isinstance(first, str) else None
        extracted = filtered[0] if filtered else None
        if isinstance(extracted, list) and len(extracted) == 1:
            extracted = extracted[0]  # one repeat: a filter that keeps candidates (HumanEval's) holds one
        answer["extracted"] = None if extracted is None else _text(extracted)
    return answer


def _pick(lls: list[float | None], choices: list[str], metric: str) -> int | None:
    """The index lm-eval's metric takes as the answer (numpy's argmax: the first of equal maxima)."""
    if any(v is None for v in lls):
        return None
    if metric == "acc_norm":
        scores = [v / len(c) if c else -math.inf for v, c in zip(lls, choices, strict=True)]  # type: ignore[operator]
    elif metric == "acc_bytes":
        scores = [v / len(c.encode()) if c else -math.inf for v, c in zip(lls, choices, strict=True)]  # type: ignore[operator]
    else:
        scores = list(lls)  # type: ignore[arg-type]
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def _loglikelihood(response: Any) -> float | None:
    """A response's log-likelihood: ``[ll, is_greedy]`` for choices, a bare number for rolling ones."""
    value = response[0] if isinstance(response, list | tuple) and response else response
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _category(doc: Any, subtask: str, rule: SampleRule) -> str | None:
    if rule.by_subtask:
        return subtask
    if rule.category_field and isinstance(doc, dict) and doc.get(rule.category_field) is not None:
        return str(doc[rule.category_field])
    return None


def _cluster(doc: Any, field: str | None) -> str | None:
    """A short digest of the cluster field's value (a passage can be long; only equality matters)."""
    if not field or not isinstance(doc, dict) or doc.get(field) in (None, ""):
        return None
    text = doc[field] if isinstance(doc[field], str) else json.dumps(doc[field], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _number(value: Any) -> float | None:
    """A per-sample metric as a float; None for anything that is not a finite number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _binary(value: Any) -> bool | None:
    """True or False for a per-sample 1 or 0; None for any other value (a probability, a string, missing)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
