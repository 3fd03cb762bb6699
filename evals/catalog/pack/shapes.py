"""``slmb_hellaswag`` and ``slmb_winogrande``: pack tasks with the request shapes of HellaSwag and WinoGrande.

What they imitate is the work a task asks of a backend, not its difficulty:

- ``slmb_hellaswag``: HellaSwag 10-shot is a long context (about 700 tokens:
  ten worked examples, drawn per document, then the question) and four short
  endings. Here every document has ten worked story sentences drawn for it,
  then a story setup, and four endings (the right one and three others), as
  ``story`` has them; scored acc and acc_norm, as HellaSwag is.
- ``slmb_winogrande``: WinoGrande's two options fill a blank inside the
  sentence; lm-eval's winogrande scores the shared rest of the sentence after
  each filled-in beginning (partial evaluation: contexts differ, the
  continuation is shared). Its three functions are lm-eval's own
  (``lm_eval.tasks.winogrande.preprocess_winogrande``, through ``utils.py``).

Deterministic (seeded ``random.Random``); drawn from the eval people and the
story scenarios, so the demo models know the words.
"""

from __future__ import annotations

import random
from typing import Any

from evals.catalog.pack import items, world

TASKS = ("slmb_hellaswag", "slmb_winogrande")
_SHOTS = 10
_HELLASWAG_DOCS = 200
# (sentence with {a} and {b} for two people and _ for the blank, which of them fills it: 1 or 2)
_WINO_FRAMES: tuple[tuple[str, str], ...] = (
    ("{a} gave {b} a sandwich because _ was hungry.", "2"),
    ("{a} gave {b} a sandwich because _ was not hungry.", "1"),
    ("{a} helped {b} with the test because _ had studied all evening.", "1"),
    ("{a} helped {b} with the test because _ had not studied at all.", "2"),
    ("{a} lent {b} an umbrella because _ had two of them.", "1"),
    ("{a} lent {b} an umbrella because _ had none in the rain.", "2"),
    ("{a} woke {b} up early because _ wanted to see the sun come up.", "1"),
    ("{a} woke {b} up early because _ was late for school.", "2"),
    ("{a} read a book to {b} because _ could not read yet.", "2"),
    ("{a} read a book to {b} because _ had learned to read.", "1"),
)


def _hellaswag(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for _ in range(_HELLASWAG_DOCS):
        name, pronoun, possessive = rng.choice(world.EVAL_PEOPLE)
        names = {"n": name, "p": pronoun, "ps": possessive}
        index, *shots = rng.sample(range(len(world.SCENARIOS)), _SHOTS + 1)
        worked = " ".join(f"{world.SCENARIOS[i][0]} {world.SCENARIOS[i][1]}".format(**names) for i in shots)
        others = rng.sample([i for i in range(len(world.SCENARIOS)) if i != index], 3)
        setup, ending = world.SCENARIOS[index]
        choices = [world.SCENARIOS[i][1].format(**names) for i in [index, *others]]
        rng.shuffle(choices)
        out.append(
            {
                "query": worked + " " + setup.format(**names),
                "choices": choices,
                "label": choices.index(ending.format(**names)),
            }
        )
    return out


def _winogrande(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for a, _, _ in world.EVAL_PEOPLE:
        for frame, answer in _WINO_FRAMES:
            b = rng.choice([p for p, _, _ in world.EVAL_PEOPLE if p != a])
            out.append({"sentence": frame.format(a=a, b=b), "option1": a, "option2": b, "answer": answer})
    return out


def docs() -> dict[str, list[dict[str, Any]]]:
    """The task data, keyed by the task name without its ``slmb_`` prefix."""
    return {
        "hellaswag": _hellaswag(random.Random(f"{items.EVAL_SEED}/hellaswag")),
        "winogrande": _winogrande(random.Random(f"{items.EVAL_SEED}/winogrande")),
    }


def task_config(name: str, base: dict[str, Any], function: type[str]) -> dict[str, Any]:
    """The lm-eval config, shaped as ``hellaswag.yaml`` / ``winogrande/default.yaml`` have it."""
    acc = {"metric": "acc", "aggregation": "mean", "higher_is_better": True}
    if name == "slmb_hellaswag":
        return base | {
            "output_type": "multiple_choice",
            "doc_to_text": "{{query}}",
            "doc_to_target": "{{label}}",
            "doc_to_choice": "choices",
            "metric_list": [acc, acc | {"metric": "acc_norm"}],
        }
    if name == "slmb_winogrande":
        return base | {
            "output_type": "multiple_choice",
            "doc_to_text": function("utils.winogrande_doc_to_text"),
            "doc_to_target": function("utils.winogrande_doc_to_target"),
            "doc_to_choice": function("utils.winogrande_doc_to_choice"),
            "metric_list": [acc],
        }
    raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
