"""``slmb_truthful``: a many-choice task with long prompts, shaped like TruthfulQA-MC2.

TruthfulQA-MC2 is the costly kind of multiple-choice task: every question has
a variable number of true and false answers (7.5 on average), each scored
behind the same long prompt (six worked question/answer pairs, then the
question). The score is lm-eval's own ``process_results_mc2``: the normalized
probability mass the model puts on the true answers.

This task has the same shape, drawn from the pack's world: for every fact,
each of its three question wordings asked twice with different answer sets
(972 documents; TruthfulQA has 817), 1-3 true answers (the fact stated in
different ways) and 3-7 false ones (the same statements with other values of
the relation), behind a preamble of six worked questions. It is large on
purpose: it is the dominant task of the ``offline-dominant`` suite, which
measures how a run spreads over workers.
Deterministic (a seeded ``random.Random``). It is kept apart from
``items.eval_docs`` on purpose: the demo models' training corpus leaves out
every prompt of that split, and this task must not change their corpus.
"""

from __future__ import annotations

import random
from typing import Any

from evals.catalog.pack import items, world

TASKS = ("slmb_truthful",)

# Six worked questions, as TruthfulQA's own prompt has (its answers are full sentences too).
_PREAMBLE = (
    "q: what sound does a cow make?\na: a cow says moo.\n\n"
    "q: what color is the sky?\na: the color of the sky is blue.\n\n"
    "q: what is a baby dog called?\na: a baby dog is called a puppy.\n\n"
    "q: where does a bee live?\na: a bee lives in a hive.\n\n"
    "q: what is a knife used for?\na: a knife is used for cutting.\n\n"
    "q: how many legs does a spider have?\na: a spider has eight legs."
)
_DRAWS_PER_WORDING = 2


def _answers(rng: random.Random, relation: world.Relation, subject: str, value: str) -> tuple[list[str], list[int]]:
    """True statements of the fact and false ones (other values), shuffled; labels 1 for true, as TruthfulQA's."""
    statements = list(relation.statements)
    true = [s.format(s=subject, v=value) for s in rng.sample(statements, rng.randint(1, len(statements)))]
    others = sorted({v for _, v in relation.facts if v != value})
    false_values = rng.sample(others, min(len(others), rng.randint(3, 7)))
    false = [rng.choice(statements).format(s=subject, v=v) for v in false_values]
    pairs = [(a, 1) for a in true] + [(a, 0) for a in false]
    rng.shuffle(pairs)
    return [a for a, _ in pairs], [label for _, label in pairs]


def docs() -> dict[str, list[dict[str, Any]]]:
    """The task data, keyed by the task name without its ``slmb_`` prefix."""
    rng = random.Random(f"{items.EVAL_SEED}/truthful")
    out = []
    for relation in world.RELATIONS:
        for subject, value in relation.facts:
            first = world.eval_question_index(relation, subject)
            for k in range(len(relation.questions)):
                question = relation.questions[(first + k) % len(relation.questions)].format(s=subject)
                for _ in range(_DRAWS_PER_WORDING):
                    choices, labels = _answers(rng, relation, subject, value)
                    out.append({"question": question, "mc2_targets": {"choices": choices, "labels": labels}})
    return {"truthful": out}


def task_config(name: str, base: dict[str, Any]) -> dict[str, Any]:
    """The lm-eval config, as ``truthfulqa_mc2.yaml`` has it (its prompt shape, choices and scoring)."""
    if name != "slmb_truthful":
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    preamble = _PREAMBLE.replace("{", "{{").replace("}", "}}")
    return base | {
        "output_type": "multiple_choice",
        "doc_to_text": preamble + "\n\nq: {{question}}\na:",
        "doc_to_target": 0,
        "doc_to_choice": "{{mc2_targets.choices}}",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
