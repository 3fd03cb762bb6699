"""Both evaluation backends on real tiny models: loading rules, agreement, lm-eval end to end.

Tolerances (measured on stories260K, F32 weights, 2-core CPU):
- transformers (GGUF dequantized, float32) vs llama.cpp with a float32 KV cache
  (our default): up to ~1e-5 nats per request; with llama.cpp's own float16 KV
  cache: up to 4.9e-3 (it grows with the number of scored tokens).
- llama.cpp with KV-prefix reuse vs from scratch: identical to 1e-6.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evals.backends import BackendSpec, UnknownBackendError, backend_class, load_backend
from evals.backends.errors import UnsafeWeightsError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# (context, continuation) pairs: shared contexts, multi-token continuations, an empty context.
PAIRS = [
    ("Once upon a time", ", there was a little girl"),
    ("Lily liked to", " play"),
    ("Lily liked to", " swim in the sea"),
    ("Lily liked to", " eat cake with her mom"),
    ("The dog", " ran away."),
    ("", "Once upon a time"),
]
STORY = (
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big red ball under a tree. She ran to get it, but a dog took it first. "
)
# Q8_0 GGUF in llama.cpp vs the FP32 HF folder (llama.cpp quantizes activations too, see ARCHITECTURE):
# measured max gap 0.19 nats (demo-trained, 600-step recipe) and 0.025 (demo-untrained) per request,
# the largest on requests the model finds very unlikely; "a few tenths of a nat" is the known bound.
Q8_TOLERANCE = 0.3


def instances(kind: str, args: list[tuple]) -> list:
    from lm_eval.api.instance import Instance

    return [Instance(request_type=kind, doc={}, arguments=a, idx=i) for i, a in enumerate(args)]


def max_gap(a: list[tuple[float, bool]] | list[float], b: list[tuple[float, bool]] | list[float]) -> float:
    def value(x: tuple[float, bool] | float) -> float:
        return x[0] if isinstance(x, tuple) else x

    return max(abs(value(x) - value(y)) for x, y in zip(a, b, strict=True))


# -- spec and registry: no model needed ---------------------------------------


def test_unknown_backend_answers_did_you_mean() -> None:
    with pytest.raises(UnknownBackendError, match="did you mean 'llamacpp'"):
        backend_class("llama_cpp")
    with pytest.raises(ValueError, match="did you mean 'transformers'"):
        BackendSpec(backend="transformer", path="m")


def test_spec_names_the_field_and_the_fix() -> None:
    with pytest.raises(ValueError, match="dtype: applies to backend 'transformers' only"):
        BackendSpec(backend="llamacpp", path="m.gguf", dtype="float16")
    with pytest.raises(ValueError, match="needs a .gguf file"):
        BackendSpec(backend="llamacpp", path="hf_folder")
    with pytest.raises(ValueError, match="batch_size"):
        BackendSpec(backend="transformers", path="m", batch_size=0)
    spec = BackendSpec(backend="transformers", path="dir", gguf_file="m.gguf")
    assert spec.gguf_path == Path("dir/m.gguf")
    assert spec.torch_dtype_name == "float32"


def test_pickle_weights_are_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(UnsafeWeightsError, match=r"pickle weights \(pytorch_model.bin\).*safetensors"):
        load_backend(BackendSpec(backend="transformers", path=tmp_path))


# -- stories260K: the real pretrained GGUF -------------------------------------
# n_threads=1 throughout: on a busy 2-core machine llama.cpp's spinning thread
# barrier makes 2 threads ~50x slower than 1 for a model this small.


@pytest.fixture(scope="module")
def hf_stories(stories260k_path: Path):
    return load_backend(BackendSpec(backend="transformers", path=stories260k_path, dtype="float32"))


@pytest.fixture(scope="module")
def llama_stories(stories260k_path: Path):
    lm = load_backend(BackendSpec(backend="llamacpp", path=stories260k_path, n_threads=1))
    yield lm
    lm.close()


@pytest.fixture(scope="module")
def llama_stories_f16kv(stories260k_path: Path):
    spec = BackendSpec(backend="llamacpp", path=stories260k_path, n_threads=1, kv_cache_dtype="float16")
    lm = load_backend(spec)
    yield lm
    lm.close()


def test_llamacpp_greedy_story(llama_stories) -> None:
    [text] = llama_stories.generate_until(instances("generate_until", [("Once upon a time", {"until": ["."]})]))
    assert text.startswith(", there was a little girl named Lily"), text


def test_generate_until_honours_until_and_max_gen_toks(hf_stories, llama_stories) -> None:
    args = [
        ("Once upon a time", {"until": [" girl"], "max_gen_toks": 30}),
        ("Once upon a time", {"until": ["\n\n"], "max_gen_toks": 3}),
    ]
    hf = hf_stories.generate_until(instances("generate_until", args), disable_tqdm=True)
    llama = llama_stories.generate_until(instances("generate_until", args), disable_tqdm=True)
    assert llama[0] == ", there was a little"
    assert llama[1] == ", there was"  # three tokens: ",", " there", " was"
    assert hf == llama
    # A continuation that starts a new word: transformers' SentencePiece decoder drops its space, so do we.
    args = [("Lily and her mom went to the", {"until": ["."], "max_gen_toks": 12})]
    assert hf_stories.generate_until(instances("generate_until", args), disable_tqdm=True) == ["park"]
    assert llama_stories.generate_until(instances("generate_until", args), disable_tqdm=True) == ["park"]


def test_loglikelihood_agrees_across_backends(hf_stories, llama_stories, llama_stories_f16kv) -> None:
    hf = hf_stories.loglikelihood(instances("loglikelihood", PAIRS), disable_tqdm=True)
    llama = llama_stories.loglikelihood(instances("loglikelihood", PAIRS), disable_tqdm=True)
    llama_f16 = llama_stories_f16kv.loglikelihood(instances("loglikelihood", PAIRS), disable_tqdm=True)
    print(f"\nstories260K |hf - llama.cpp|: f32 KV {max_gap(hf, llama):.2e}, f16 KV {max_gap(hf, llama_f16):.2e}")
    assert max_gap(hf, llama) < 1e-3
    assert max_gap(hf, llama_f16) < 1e-2
    assert [g for _, g in hf] == [g for _, g in llama]


def test_loglikelihood_rolling_agrees(demo_gguf: Path) -> None:
    texts = [(STORY,), (STORY * 2,)]
    whole = {"path": demo_gguf}
    hf_lm = load_backend(BackendSpec(backend="transformers", **whole))
    llama_lm = load_backend(BackendSpec(backend="llamacpp", n_threads=1, **whole))
    hf = hf_lm.loglikelihood_rolling(instances("loglikelihood_rolling", texts), disable_tqdm=True)
    llama = llama_lm.loglikelihood_rolling(instances("loglikelihood_rolling", texts), disable_tqdm=True)
    llama_lm.close()
    print(f"\nrolling, one window: {hf} vs {llama}")
    assert max_gap(hf, llama) < 1e-3
    # A 64-token window splits the text into several windows on both sides.
    small = {"path": demo_gguf, "n_ctx": 64}
    hf_small = load_backend(BackendSpec(backend="transformers", **small))
    llama_small = load_backend(BackendSpec(backend="llamacpp", n_threads=1, **small))
    windowed = [
        lm.loglikelihood_rolling(instances("loglikelihood_rolling", texts), disable_tqdm=True)
        for lm in (hf_small, llama_small)
    ]
    llama_small.close()
    print(f"rolling, 64-token windows: {windowed[0]} vs {windowed[1]}")
    assert max_gap(*windowed) < 1e-3
    assert windowed[0][1] != pytest.approx(hf[1], abs=1e-3)  # windows really cut the context


def test_kv_prefix_reuse_changes_nothing_and_saves_time(demo_gguf: Path) -> None:
    from evals.backends.llamacpp import LlamaCppLM

    spec = BackendSpec(backend="llamacpp", path=demo_gguf, n_threads=1)
    # Multiple-choice shape: 12 questions with a long shared context, 4 options each.
    args = [
        (f"{STORY * 3}Question {q}: what did Lily see?", f" option {c} is a {word}")
        for q in range(12)
        for c, word in enumerate(["ball", "dog", "tree", "park"])
    ]
    timings, results = {}, {}
    for reuse in (True, False):
        lm = LlamaCppLM(spec, reuse_prefix=reuse)
        start = time.perf_counter()
        results[reuse] = lm.loglikelihood(instances("loglikelihood", args), disable_tqdm=True)
        timings[reuse] = time.perf_counter() - start
        lm.close()
    speedup = timings[False] / timings[True]
    print(
        f"\nKV-prefix reuse: {len(args)} requests in {timings[True]:.3f}s "
        f"vs {timings[False]:.3f}s from scratch ({speedup:.1f}x, {len(args) / timings[True]:.0f} req/s)"
    )
    assert max_gap(results[True], results[False]) < 1e-6
    assert [g for _, g in results[True]] == [g for _, g in results[False]]


# -- demo models: the project's own fixtures -----------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("evals.models.fixtures") is None,
    reason="evals.models.fixtures (the demo model builder) is missing",
)
def test_demo_models_agree_across_backends(demo_models) -> None:
    for name, model in demo_models.items():
        hf = load_backend(BackendSpec(backend="transformers", path=model.hf_dir))
        requests = instances("loglikelihood", PAIRS)
        reference = hf.loglikelihood(requests, disable_tqdm=True)
        gaps = {}
        for variant, kv in (("F32", None), ("F32", "float16"), ("Q8_0", None)):
            spec = BackendSpec(backend="llamacpp", path=model.gguf[variant], n_threads=1, kv_cache_dtype=kv)
            llama = load_backend(spec)
            gaps[(variant, kv)] = max_gap(reference, llama.loglikelihood(requests, disable_tqdm=True))
            llama.close()
        print(f"\n{name}: " + ", ".join(f"{v} kv={kv or 'default'} {gap:.2e}" for (v, kv), gap in gaps.items()))
        assert gaps[("F32", None)] < 1e-3
        assert gaps[("F32", "float16")] < 1e-2
        assert gaps[("Q8_0", None)] < Q8_TOLERANCE


# -- lm-eval end to end --------------------------------------------------------

MC_DOCS = [
    {"question": "Lily went to the", "choices": [" park", " moon", " bank", " sea"], "label": 0},
    {"question": "Once upon a time, there was a", "choices": [" little", " big", " red"], "label": 0},
    {"question": "The dog was very", "choices": [" happy", " sad", " car"], "label": 1},
    {"question": "She loved to play with her", "choices": [" ball", " toys", " mom"], "label": 2},
]
GEN_DOCS = [
    {"prompt": "Once upon a time", "answer": ", there was a little girl named Lily"},
    {"prompt": "Lily and her mom went to the", "answer": " park"},
    {"prompt": "One day, a little boy named Tom", "answer": " went"},
]


def write_task_pack(root: Path) -> Path:
    """Two tiny offline tasks (multiple_choice and generate_until) over local JSONL."""
    root.mkdir(parents=True, exist_ok=True)
    for name, docs in (("mc", MC_DOCS), ("gen", GEN_DOCS)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    common = "dataset_path: json\ntest_split: test\n"
    (root / "slm_tiny_mc.yaml").write_text(
        "task: slm_tiny_mc\n" + common + f"dataset_kwargs:\n  data_files:\n    test: {root / 'mc.jsonl'}\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "{{question}}"\ndoc_to_choice: "{{choices}}"\ndoc_to_target: "{{label}}"\n'
        "metric_list:\n  - metric: acc\n  - metric: acc_norm\n"
    )
    (root / "slm_tiny_gen.yaml").write_text(
        "task: slm_tiny_gen\n" + common + f"dataset_kwargs:\n  data_files:\n    test: {root / 'gen.jsonl'}\n"
        "output_type: generate_until\n"
        'doc_to_text: "{{prompt}}"\ndoc_to_target: "{{answer}}"\n'
        "generation_kwargs:\n  until: ['.']\n  max_gen_toks: 12\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n"
    )
    return root


TASKS = ["slm_tiny_mc", "slm_tiny_gen"]


def run_in_process(lm, pack: Path) -> dict:
    import lm_eval
    from lm_eval.tasks import TaskManager

    return lm_eval.simple_evaluate(
        model=lm, tasks=TASKS, task_manager=TaskManager(include_path=str(pack)), limit=10, log_samples=True
    )


def per_doc(results: dict) -> dict[tuple[str, int], list]:
    """Each doc's raw responses (log-likelihoods or generations), for exact comparison."""
    return {
        (task, sample["doc_id"]): sample["resps"] for task, samples in results["samples"].items() for sample in samples
    }


def tiny_random_llama(folder: Path) -> Path:
    """A seeded 2-layer Llama with a BPE tokenizer trained on the task text, saved as safetensors."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [STORY] + [d["question"] + c for d in MC_DOCS for c in d["choices"]] + [d["prompt"] for d in GEN_DOCS]
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    hf_tok.save_pretrained(folder)
    config = transformers.LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("scorer", ["hflm", "shared-prefix"])
def test_simple_evaluate_matches_lm_eval_cli(tmp_path: Path, scorer: str) -> None:
    """HFLM as it is: lm-eval's numbers to 1e-9. Shared-prefix scoring (the default): the same metrics and
    generations to 1e-9, each log-likelihood within float32 rounding (test_prefix_scoring.py)."""
    pack = write_task_pack(tmp_path / "tasks")
    model_dir = tiny_random_llama(tmp_path / "tiny-llama")

    ours = run_in_process(load_backend(BackendSpec(backend="transformers", path=model_dir, scorer=scorer)), pack)
    per_sample = 1e-9 if scorer == "hflm" else 1e-5
    out = tmp_path / "cli"
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "lm_eval",
            "run",
            "--model",
            "hf",
            "--model_args",
            f"pretrained={model_dir},dtype=float32",
            "--device",
            "cpu",
            "--batch_size",
            "1",
            "--tasks",
            ",".join(TASKS),
            "--include_path",
            str(pack),
            "--limit",
            "10",
            "--output_path",
            str(out),
            "--log_samples",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    [results_file] = out.rglob("results_*.json")
    theirs = json.loads(results_file.read_text())
    theirs["samples"] = {
        task: [json.loads(line) for f in out.rglob(f"samples_{task}_*.jsonl") for line in f.read_text().splitlines()]
        for task in TASKS
    }
    for task in TASKS:
        for metric, value in ours["results"][task].items():
            if isinstance(value, float):
                assert value == pytest.approx(theirs["results"][task][metric], abs=1e-9), (task, metric)
    mine, cli_docs = per_doc(ours), per_doc(theirs)
    assert mine.keys() == cli_docs.keys()
    for key, resps in mine.items():
        for a, b in zip(resps, cli_docs[key], strict=True):
            if isinstance(a[0], tuple):  # loglikelihood: [(logprob, is_greedy)]; the CLI writes strings
                assert float(a[0][0]) == pytest.approx(float(b[0][0]), abs=per_sample), key
                assert str(a[0][1]) == str(b[0][1]), key
            else:  # generation: [text]
                assert a == b, key


def test_both_backends_score_stories260k_alike_through_lm_eval(tmp_path: Path, stories260k_path: Path) -> None:
    """Both backends run the same tasks on the real pretrained model through lm-eval, and tell its story."""
    pack = write_task_pack(tmp_path / "tasks")
    spec = {"path": stories260k_path}
    scores = []
    for lm in (
        load_backend(BackendSpec(backend="transformers", **spec)),
        load_backend(BackendSpec(backend="llamacpp", n_threads=1, **spec)),
    ):
        result = run_in_process(lm, pack)
        print(f"\n{type(lm).__name__}: " + json.dumps({t: result["results"][t] for t in TASKS}, default=str))
        assert result["results"]["slm_tiny_mc"]["acc,none"] >= 0.0
        assert result["samples"]["slm_tiny_gen"][0]["resps"][0][0].startswith(", there was a little girl")
        scores.append({t: result["results"][t] for t in TASKS})
    assert scores[0] == scores[1]
