"""Hub-shaped copies of the ``full`` suite's datasets: synthetic, seeded rows in the real repos' layout and schemas.

:func:`write_hub_datasets` writes one folder per hub dataset repo (``cais/mmlu/``,
``allenai/ai2_arc/``, ...), each with a ``README.md`` whose YAML header declares
its configs (as the real repos do, so ``datasets`` finds each config's files) and
one parquet file per config and split. A dataset hub stand-in serves that folder
(``tests/evals/models/dataset_standin.py``), so lm-eval loads the ``full`` suite
through its own task YAMLs and the normal hub path (``HF_ENDPOINT``), with no
download from the real hub.

Each row has exactly the columns, types and nesting lm-eval 0.4.13's YAMLs and
``utils.py`` read (checked against ``lm_eval/tasks/<task>/``); every split a task
touches is there, its few-shot split included. The values are nonsense drawn
from a seeded generator: they exercise the path and the formats, not a model.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROWS = 32  # per split: a few dozen, more than ARC's 25 few-shot examples plus the document itself
MMLU_DEV_ROWS = 5  # the real dev split: 5 worked examples per subject, MMLU's few-shot pool

_WORDS = (
    "river stone lamp orbit cedar mint quartz harbor violet ember falcon meadow copper tide "
    "lantern basalt willow prism cobalt thistle summit marble canyon hollow glacier saffron"
).split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


Row = dict[str, Any]


@dataclass(frozen=True)
class Config:
    """One config of a repo: its name, splits and how a row of it is made."""

    name: str
    splits: tuple[str, ...]
    row: Callable[[random.Random, int], Row]
    features: Any  # datasets.Features, built lazily (datasets imports in seconds)
    rows: dict[str, int] | None = None  # per split, where it is not ROWS


def _mmlu_subjects() -> list[str]:
    """The 57 subjects, as lm-eval's mmlu YAMLs name their configs (``dataset_name``)."""
    import lm_eval.tasks

    folder = Path(lm_eval.tasks.__file__).parent / "mmlu" / "default"
    subjects = []
    for path in sorted(folder.glob("mmlu_*.yaml")):
        data = yaml.safe_load(path.read_text())
        subjects.append(data["dataset_name"])
    return subjects


MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)
BBQ_CATEGORIES = ("Age", "Gender_identity", "Nationality", "Religion", "SES")


def _mmlu(subject: str) -> Callable[[random.Random, int], Row]:
    def row(rng: random.Random, i: int) -> Row:
        return {
            "question": f"{_text(rng, 8)}?",
            "subject": subject,
            "choices": [_text(rng, 2) for _ in range(4)],
            "answer": rng.randrange(4),
        }

    return row


def _arc(rng: random.Random, i: int) -> Row:
    labels = ["A", "B", "C", "D"]
    return {
        "id": f"Mercury_{i:07d}",
        "question": f"{_text(rng, 9)}?",
        "choices": {"text": [_text(rng, 3) for _ in labels], "label": labels},
        "answerKey": rng.choice(labels),
    }


def _hellaswag(rng: random.Random, i: int) -> Row:
    activity = rng.choice(["Baking cookies", "Rafting", "Washing hands", "Knitting"])
    return {
        "ind": i,
        "activity_label": activity,
        "ctx_a": _text(rng, 10) + ".",
        "ctx_b": _text(rng, 3),
        "ctx": _text(rng, 13),
        "endings": [_text(rng, 6) + "." for _ in range(4)],
        "source_id": f"activitynet~v_{i:05d}",
        "split": "val",
        "split_type": "indomain",
        "label": str(rng.randrange(4)),  # a string on the hub; lm-eval's utils.py casts it
    }


def _truthful(rng: random.Random, i: int) -> Row:
    n1, n2 = rng.randint(3, 6), rng.randint(3, 8)
    true2 = rng.randint(1, n2 - 1)
    return {
        "question": f"{_text(rng, 7)}?",
        "mc1_targets": {"choices": [_text(rng, 5) for _ in range(n1)], "labels": [1] + [0] * (n1 - 1)},
        "mc2_targets": {"choices": [_text(rng, 5) for _ in range(n2)], "labels": [1] * true2 + [0] * (n2 - true2)},
    }


def _humaneval(rng: random.Random, i: int) -> Row:
    name = f"add_{i}"
    k = rng.randint(1, 9)
    return {
        "task_id": f"HumanEval/{i}",
        "prompt": f'def {name}(x: int) -> int:\n    """Return x plus {k}."""\n',
        "canonical_solution": f"    return x + {k}\n",
        "test": f"def check(candidate):\n    assert candidate(1) == {1 + k}\n    assert candidate(-{k}) == 0\n",
        "entry_point": name,
    }


def _mbpp(rng: random.Random, i: int) -> Row:
    k = rng.randint(2, 9)
    return {
        "task_id": i + 1,
        "text": f"Write a function to multiply a number by {k}.",
        "code": f"def times_{i}(x):\r\n  return x * {k}",
        "test_list": [f"assert times_{i}({n}) == {n * k}" for n in (1, 2, 3)],
        "test_setup_code": "",
        "challenge_test_list": [],
    }


def _gsm8k(rng: random.Random, i: int) -> Row:
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    return {
        "question": f"A {_text(rng, 2)} holds {a} stones and gets {b} more. How many stones are there?",
        "answer": f"It holds {a} + {b} = <<{a}+{b}={a + b}>>{a + b} stones.\n#### {a + b}",
    }


def _math(subject: str) -> Callable[[random.Random, int], Row]:
    def row(rng: random.Random, i: int) -> Row:
        a, b = rng.randint(2, 30), rng.randint(2, 30)
        return {
            "problem": f"What is ${a} + {b}$?",
            "level": f"Level {rng.randint(1, 5)}",
            "type": subject.replace("_", " ").title(),
            "solution": f"We add: ${a} + {b} = \\boxed{{{a + b}}}$.",
        }

    return row


def _boolq(rng: random.Random, i: int) -> Row:
    return {"question": _text(rng, 6), "passage": _text(rng, 30) + ".", "idx": i, "label": rng.randrange(2)}


def _piqa(rng: random.Random, i: int) -> Row:
    return {"goal": _text(rng, 6), "sol1": _text(rng, 8), "sol2": _text(rng, 8), "label": rng.randrange(2)}


def _winogrande(rng: random.Random, i: int) -> Row:
    return {
        "sentence": f"The {_text(rng, 2)} did not fit the {_text(rng, 1)} because _ was {_text(rng, 1)}.",
        "option1": _text(rng, 1),
        "option2": _text(rng, 1),
        "answer": rng.choice(["1", "2"]),  # a string on the hub; lm-eval's preprocess maps it
    }


_TOXIGEN_GROUPS = ("asian", "black", "jewish", "latino", "lgbtq", "women")


def _toxigen(rng: random.Random, i: int) -> Row:
    ai, human = round(rng.uniform(1, 5), 3), round(rng.uniform(1, 5), 3)
    return {
        "text": _text(rng, 12),
        "target_group": rng.choice(_TOXIGEN_GROUPS),
        "factual?": rng.choice(["opinion", "factual", "neither factual nor opinion"]),
        "ingroup_effect": rng.choice(["doesn't use in-group language", "uses in-group language"]),
        "lewd": rng.choice(["doesn't contain lewd content", "contains lewd content"]),
        "framing": rng.choice(["disagreement", "moral", "cause", "solution", ""]),
        "predicted_group": "the text directly references " + rng.choice(_TOXIGEN_GROUPS),
        "stereotyping": rng.choice(["doesn't use positive stereotyping", "uses positive stereotyping"]),
        "intent": round(rng.uniform(1, 5), 3),
        "toxicity_ai": ai,
        "toxicity_human": human,
        "predicted_author": rng.choice(["human", "ai"]),
        "actual_method": rng.choice(["topk", "cbs"]),
    }


def _bbq(rng: random.Random, i: int) -> Row:
    category = BBQ_CATEGORIES[i % len(BBQ_CATEGORIES)]
    young, old = "the young one", "the old one"
    ambiguous = i % 2 == 0
    polarity = rng.choice(["neg", "nonneg"])
    answers = [young, old, "Cannot be determined"]
    info = {"ans0": [young, "nonOld"], "ans1": [old, "old"], "ans2": ["Cannot be determined", "unknown"]}
    return {
        "example_id": i,
        "question_index": str(i // 4 + 1),
        "question_polarity": polarity,
        "context_condition": "ambig" if ambiguous else "disambig",
        "category": category,
        "answer_info": info,
        "additional_metadata": {
            "subcategory": "None",
            "stereotyped_groups": ["old"],
            "version": "a",
            "source": "https://example.org/bbq",
        },
        "context": f"{_text(rng, 10)}." + ("" if ambiguous else f" {_text(rng, 6)}."),
        "question": f"Who {_text(rng, 3)}?",
        "ans0": answers[0],
        "ans1": answers[1],
        "ans2": answers[2],
        "label": 2 if ambiguous else rng.randrange(2),
    }


def _features() -> dict[str, Any]:
    from datasets import ClassLabel, Features, List, Value

    s, i64, f64 = Value("string"), Value("int64"), Value("float64")
    return {
        "mmlu": Features(question=s, subject=s, choices=List(s), answer=ClassLabel(names=["A", "B", "C", "D"])),
        "arc": Features(id=s, question=s, choices={"text": List(s), "label": List(s)}, answerKey=s),
        "hellaswag": Features(
            ind=Value("int32"),
            activity_label=s,
            ctx_a=s,
            ctx_b=s,
            ctx=s,
            endings=List(s),
            source_id=s,
            split=s,
            split_type=s,
            label=s,
        ),  # fmt: skip
        "truthful": Features(
            question=s,
            mc1_targets={"choices": List(s), "labels": List(Value("int32"))},
            mc2_targets={"choices": List(s), "labels": List(Value("int32"))},
        ),
        "humaneval": Features(task_id=s, prompt=s, canonical_solution=s, test=s, entry_point=s),
        "mbpp": Features(
            task_id=Value("int32"), text=s, code=s, test_list=List(s), test_setup_code=s, challenge_test_list=List(s)
        ),
        "gsm8k": Features(question=s, answer=s),
        "math": Features(problem=s, level=s, type=s, solution=s),
        "boolq": Features(question=s, passage=s, idx=Value("int32"), label=ClassLabel(names=["False", "True"])),
        "piqa": Features(goal=s, sol1=s, sol2=s, label=ClassLabel(names=["0", "1"])),
        "winogrande": Features(sentence=s, option1=s, option2=s, answer=s),
        "toxigen": Features(
            {
                "text": s,
                "target_group": s,
                "factual?": s,
                "ingroup_effect": s,
                "lewd": s,
                "framing": s,
                "predicted_group": s,
                "stereotyping": s,
                "intent": f64,
                "toxicity_ai": f64,
                "toxicity_human": f64,
                "predicted_author": s,
                "actual_method": s,
            }
        ),  # fmt: skip
        "bbq": Features(
            example_id=i64,
            question_index=s,
            question_polarity=s,
            context_condition=s,
            category=s,
            answer_info={"ans0": List(s), "ans1": List(s), "ans2": List(s)},
            additional_metadata={"subcategory": s, "stereotyped_groups": List(s), "version": s, "source": s},
            context=s,
            question=s,
            ans0=s,
            ans1=s,
            ans2=s,
            label=i64,
        ),  # fmt: skip
    }


TRAIN_VAL_TEST = ("train", "validation", "test")


def repos() -> dict[str, list[Config]]:
    """Every repo of the ``full`` suite, by hub id, with its configs (``default``: the repo's only one)."""
    f = _features()
    return {
        "cais/mmlu": [
            Config(s, ("test", "validation", "dev"), _mmlu(s), f["mmlu"], {"dev": MMLU_DEV_ROWS})
            for s in _mmlu_subjects()
        ],
        "allenai/ai2_arc": [Config("ARC-Challenge", TRAIN_VAL_TEST, _arc, f["arc"])],
        "Rowan/hellaswag": [Config("default", TRAIN_VAL_TEST, _hellaswag, f["hellaswag"])],
        "truthfulqa/truthful_qa": [Config("multiple_choice", ("validation",), _truthful, f["truthful"])],
        "openai/openai_humaneval": [Config("openai_humaneval", ("test",), _humaneval, f["humaneval"])],
        "google-research-datasets/mbpp": [Config("full", ("train", "test", "validation", "prompt"), _mbpp, f["mbpp"])],
        "openai/gsm8k": [Config("main", ("train", "test"), _gsm8k, f["gsm8k"])],
        "EleutherAI/hendrycks_math": [Config(s, ("train", "test"), _math(s), f["math"]) for s in MATH_SUBJECTS],
        "aps/super_glue": [Config("boolq", TRAIN_VAL_TEST, _boolq, f["boolq"])],
        "baber/piqa": [Config("default", TRAIN_VAL_TEST, _piqa, f["piqa"])],
        "allenai/winogrande": [Config("winogrande_xl", TRAIN_VAL_TEST, _winogrande, f["winogrande"])],
        "skg/toxigen-data": [Config("annotated", ("train", "test"), _toxigen, f["toxigen"])],
        "oskarvanderwal/bbq": [Config("All", ("test",), _bbq, f["bbq"])],
    }


# The repos the real hub gates (their files need an accepted licence and a token).
GATED = frozenset({"skg/toxigen-data"})


def _path(config: Config, split: str) -> str:
    # A repo's only config lives under data/, named ones under their own folder, as on the hub.
    folder = "data" if config.name == "default" else config.name
    return f"{folder}/{split}-00000-of-00001.parquet"


def write_hub_datasets(root: Path, seed: int = 1234) -> Path:
    """Write every repo of :func:`repos` under ``root`` (``root/<owner>/<name>/``); returns ``root``."""
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    for repo_id, configs in repos().items():
        folder = root / repo_id
        folder.mkdir(parents=True, exist_ok=True)
        card = []
        for config in configs:
            files = []
            for split in config.splits:
                rng = random.Random(f"{seed}:{repo_id}:{config.name}:{split}")
                n = (config.rows or {}).get(split, ROWS)
                rows = [config.row(rng, i) for i in range(n)]
                target = folder / _path(config, split)
                target.parent.mkdir(parents=True, exist_ok=True)
                Dataset.from_list(rows, features=config.features).to_parquet(str(target))
                files.append({"split": split, "path": _path(config, split)})
            card.append({"config_name": config.name, "data_files": files})
        header = yaml.safe_dump({"configs": card}, sort_keys=False)
        (folder / "README.md").write_text(f"---\n{header}---\n\n# {repo_id} (synthetic, seeded; SLM Bench tests)\n")
    return root


if __name__ == "__main__":
    import sys

    print(write_hub_datasets(Path(sys.argv[1] if len(sys.argv) > 1 else "hub-datasets")))
