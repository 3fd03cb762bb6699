"""lm-eval task folders the sharding tests write: the task kinds the offline pack lacks.

- ``shard_rolling``: a ``loglikelihood_rolling`` task shaped like lm-eval's
  wikitext (``doc_to_target: "{{page}}"``, word and byte perplexity, bits per byte),
  over short passages of the pack's own stories and facts.
- ``shard_group``: a group of two multiple-choice tasks with random few-shot
  examples (lm-eval's default sampler), aggregated by size, as mmlu-style groups
  are. ``shard_facts`` draws its examples from its own test split (so lm-eval
  leaves the document itself out of them), ``shard_story`` from a training split.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROLLING = "shard_rolling"
GROUP = "shard_group"
GROUP_TASKS = ("shard_facts", "shard_story")


def _jsonl(path: Path, docs: list[dict]) -> str:
    path.write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in docs))
    return str(path)


def write_tasks(folder: Path, pack: Path) -> Path:
    """The task folder (YAML + JSONL) built from the pack's data at ``pack``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    facts = [json.loads(line) for line in (pack / "data" / "facts.jsonl").read_text().splitlines()]
    stories = [json.loads(line) for line in (pack / "data" / "story.jsonl").read_text().splitlines()]
    pages = [
        {"page": " ".join([s["context"], s["choices"][s["label"]], f["question"], f["choices"][f["label"]]])}
        for s, f in zip(stories, facts, strict=False)
    ]
    configs = {
        ROLLING: {
            "task": ROLLING,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": _jsonl(folder / "pages.jsonl", pages)}},
            "test_split": "test",
            "output_type": "loglikelihood_rolling",
            "doc_to_text": "",
            "doc_to_target": "{{page}}",
            "metric_list": [{"metric": m} for m in ("word_perplexity", "byte_perplexity", "bits_per_byte")],
        },
        "shard_facts": {
            "task": "shard_facts",
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": _jsonl(folder / "facts.jsonl", facts)}},
            "test_split": "test",
            "fewshot_split": "test",
            "num_fewshot": 2,
            "output_type": "multiple_choice",
            "doc_to_text": "question: {{question}}\nanswer:",
            "doc_to_choice": "{{choices}}",
            "doc_to_target": "{{label}}",
            "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        },
        "shard_story": {
            "task": "shard_story",
            "dataset_path": "json",
            "dataset_kwargs": {
                "data_files": {
                    "train": _jsonl(folder / "story_train.jsonl", stories[:60]),
                    "test": _jsonl(folder / "story_test.jsonl", stories[60:]),
                }
            },
            "training_split": "train",
            "test_split": "test",
            "num_fewshot": 3,
            "output_type": "multiple_choice",
            "doc_to_text": "{{context}}",
            "doc_to_choice": "{{choices}}",
            "doc_to_target": "{{label}}",
            "metric_list": [{"metric": "acc"}],
        },
        GROUP: {
            "group": GROUP,
            "task": list(GROUP_TASKS),
            "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}],
        },
    }
    for name, config in configs.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder
