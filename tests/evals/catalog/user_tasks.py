"""A user's own lm-eval task folder and suite file, written the way a user would copy lm-eval's official configs.

The YAMLs follow lm-eval 0.4.13's own ``arc/arc_easy.yaml`` + ``arc/arc_challenge.yaml``
(``include``), ``super_glue/boolq/default.yaml`` and ``truthfulqa/truthfulqa_mc1.yaml`` +
``truthfulqa_mc2.yaml`` (``include``, ``process_results: !function utils.process_results_mc2``),
with their data as local JSONL (``dataset_path: json`` + ``dataset_kwargs.data_files``, absolute
as lm-eval needs). The ARC and TruthfulQA documents have from 2 to 5 choices each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# (question, choices, index of the answer): 2 to 5 choices per document, as in the real ARC.
ARC_EASY = [
    ("Where does the little cat sleep?", ["in the box", "on the moon", "under the sea"], 0),
    ("What colour is the sky on a clear day?", ["green", "blue", "red", "black"], 1),
    ("Which one can fly?", ["a stone", "a table", "a bird", "a shoe", "a cup"], 2),
    ("What does a dog say?", ["moo", "woof"], 1),
    ("When do people sleep?", ["at night", "at noon", "never"], 0),
    ("What do you drink?", ["bread", "water", "sand", "nails"], 1),
]
ARC_CHALLENGE = [
    ("The boy was happy because", ["he found his ball", "the ball hated him", "it was Tuesday forever"], 0),
    ("Lily went to the park to", ["play", "sink", "melt", "evaporate", "fold"], 0),
    ("A fish lives in", ["a tree", "the water", "a cloud", "a book"], 1),
    ("The sun is", ["cold", "hot"], 1),
    ("Tom opened the door and", ["walked in", "became a door", "ate the key"], 0),
]
BOOLQ = [
    ("The cat sat on the mat all day.", "did the cat sit on the mat", 1),
    ("Tom has a red ball and a blue kite.", "does tom have a green ball", 0),
    ("It rained all morning, so Lily stayed inside.", "did lily stay inside", 1),
    ("The dog was very hungry and ate its food.", "was the dog full before eating", 0),
    ("The sun set and the sky turned dark.", "did the sky turn dark", 1),
    ("Ben lost his hat at the park.", "did ben find his hat at the park", 0),
]
TRUTHFULQA = [
    (
        "What happens if you eat a watermelon seed?",
        ["Nothing happens.", "You digest it.", "A tree grows.", "You die."],
        2,
    ),
    ("Can a cat fly?", ["No, cats cannot fly.", "Yes, at night.", "Yes."], 1),
    ("What colour is snow?", ["White.", "It is white.", "Purple.", "Green.", "It is cheese."], 2),
    ("Do dogs bark?", ["Yes.", "No."], 1),
]

ARC_EASY_YAML = """tag:
  - held_ai2_arc
task: held_arc_easy
dataset_path: json
dataset_kwargs:
  data_files:
    train: {train}
    test: {test}
output_type: multiple_choice
training_split: train
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
should_decontaminate: true
doc_to_decontamination_query: "Question: {{{{question}}}}\\nAnswer:"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
ARC_CHALLENGE_YAML = """include: held_arc_easy.yaml
task: held_arc_challenge
dataset_kwargs:
  data_files:
    train: {train}
    test: {test}
"""
BOOLQ_YAML = """tag:
  - held-glue
task: held_boolq
dataset_path: json
dataset_kwargs:
  data_files:
    train: {train}
    validation: {validation}
output_type: multiple_choice
training_split: train
validation_split: validation
doc_to_text: "{{{{passage}}}}\\nQuestion: {{{{question}}}}?\\nAnswer:"
doc_to_target: label
doc_to_choice: ["no", "yes"]
should_decontaminate: true
doc_to_decontamination_query: passage
metric_list:
  - metric: acc
metadata:
  version: 2.0
"""
TRUTHFULQA_MC1_YAML = """tag:
  - held_truthfulqa
task: held_tqa_mc1
dataset_path: json
dataset_kwargs:
  data_files:
    validation: {validation}
output_type: multiple_choice
training_split: null
validation_split: validation
test_split: null
num_fewshot: 0
doc_to_text: "{{% set prompt_qa = 'Q: What is the capital of France?\\nA: Paris.' %}}{{{{prompt_qa + '\\n\\nQ: ' + question + '\\nA:'}}}}"
doc_to_target: 0
doc_to_choice: "{{{{mc1_targets.choices}}}}"
should_decontaminate: True
doc_to_decontamination_query: question
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 2.0
"""
TRUTHFULQA_MC2_YAML = """include: held_tqa_mc1.yaml
task: held_tqa_mc2
doc_to_target: 0
doc_to_choice: "{{mc2_targets.choices}}"
process_results: !function utils.process_results_mc2
should_decontaminate: True
doc_to_decontamination_query: question
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 3.0
"""
# lm-eval's truthfulqa/utils.py process_results_mc2, as a user copies it.
UTILS_PY = """import numpy as np


def process_results_mc2(doc, results):
    ll, _ = zip(*results)
    ll = np.array(ll)
    probs = np.exp(ll)
    probs_norm = probs / np.sum(probs)
    labels = np.array(doc["mc2_targets"]["labels"])
    pm_true = np.sum(probs_norm[labels == 1])
    return {"acc": pm_true}
"""
SUITE_YAML = """# Held-out tasks in lm-eval's own formats (my_tasks/), and one built-in task beside them.
tasks:
  held_arc: {lm_eval: held_arc_challenge, category: reasoning, metric: acc_norm, num_fewshot: 0, baseline: 0.25}
  held_arc_easy: {lm_eval: held_arc_easy, category: reasoning, metric: acc, num_fewshot: 0, baseline: 0.25}
  held_boolq: {lm_eval: held_boolq, category: language, metric: acc, num_fewshot: 0, baseline: 0.5}
  held_tqa: {lm_eval: held_tqa_mc2, category: reasoning, metric: acc, num_fewshot: 0, baseline: 0.0}
suites:
  held: {description: Held-out tasks, tasks: [held_arc, held_arc_easy, held_boolq, held_tqa, slmb_yesno]}
"""
SUBMISSION_YAML = """model:
  name: "Held-Out-Demo"
  local_path: "fixture://demo-trained"
  parameters: "1.7M"
  family: "slmbench-demo"
  quantizations:
    - {name: FP32, format: safetensors}
  categories: [reasoning, language]
"""
# The suite's user tasks: catalog key -> lm-eval task.
USER_TASKS = {
    "held_arc": "held_arc_challenge",
    "held_arc_easy": "held_arc_easy",
    "held_boolq": "held_boolq",
    "held_tqa": "held_tqa_mc2",
}


@dataclass(frozen=True)
class UserSuite:
    root: Path
    tasks_dir: Path  # my_tasks/
    suite: Path  # my_suite.yaml
    submission: Path  # sub.yaml


def write_user_suite(root: Path) -> UserSuite:
    """``root``/my_tasks/ (YAML, utils.py, data/*.jsonl), ``root``/my_suite.yaml and ``root``/sub.yaml."""
    tasks = root / "my_tasks"
    data = tasks / "data"
    data.mkdir(parents=True, exist_ok=True)

    def jsonl(name: str, rows: list[dict]) -> str:
        path = data / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return str(path.resolve())

    easy, hard = _arc(ARC_EASY), _arc(ARC_CHALLENGE)
    boolq = [{"passage": p, "question": q, "label": label} for p, q, label in BOOLQ]
    (tasks / "held_arc_easy.yaml").write_text(
        ARC_EASY_YAML.format(train=jsonl("arc_easy_train.jsonl", easy[:2]), test=jsonl("arc_easy_test.jsonl", easy[2:]))
    )
    (tasks / "held_arc_challenge.yaml").write_text(
        ARC_CHALLENGE_YAML.format(
            train=jsonl("arc_challenge_train.jsonl", hard[:1]), test=jsonl("arc_challenge_test.jsonl", hard[1:])
        )
    )
    (tasks / "held_boolq.yaml").write_text(
        BOOLQ_YAML.format(
            train=jsonl("boolq_train.jsonl", boolq[:2]), validation=jsonl("boolq_validation.jsonl", boolq[2:])
        )
    )
    (tasks / "held_tqa_mc1.yaml").write_text(
        TRUTHFULQA_MC1_YAML.format(validation=jsonl("truthfulqa_validation.jsonl", _truthfulqa(TRUTHFULQA)))
    )
    (tasks / "held_tqa_mc2.yaml").write_text(TRUTHFULQA_MC2_YAML)
    (tasks / "utils.py").write_text(UTILS_PY)
    suite = root / "my_suite.yaml"
    suite.write_text(SUITE_YAML)
    submission = root / "sub.yaml"
    submission.write_text(SUBMISSION_YAML)
    return UserSuite(root, tasks, suite, submission)


def _arc(questions: list[tuple[str, list[str], int]]) -> list[dict]:
    rows = []
    for i, (question, options, answer) in enumerate(questions):
        labels = "ABCDE"[: len(options)]
        rows.append(
            {
                "id": f"q{i}",
                "question": question,
                "choices": {"text": options, "label": list(labels)},
                "answerKey": labels[answer],
            }
        )
    return rows


def _truthfulqa(questions: list[tuple[str, list[str], int]]) -> list[dict]:
    """mc2: the first ``n_true`` choices are true; mc1: the first choice against the false ones."""
    rows = []
    for question, options, n_true in questions:
        labels = [1] * n_true + [0] * (len(options) - n_true)
        mc1 = [options[0], *options[n_true:]]
        rows.append(
            {
                "question": question,
                "mc1_targets": {"choices": mc1, "labels": [1] + [0] * (len(mc1) - 1)},
                "mc2_targets": {"choices": options, "labels": labels},
            }
        )
    return rows
