"""The demo model fixtures: deterministic, loadable by both backends, and in agreement.

Measured on the shared 2-core CPU box (transformers 5.24, llama-cpp-python
0.3.36), as |sum of token log-probabilities, GGUF - HF FP32| on 30-50 token
sentences:

- F32: 1e-7 to 6e-6 with an F32 KV cache. With llama.cpp's default F16 KV
  cache it grows to 1.6e-3, so a backend comparing on FP32 must ask for
  ``type_k=type_v=GGML_TYPE_F32``. Tolerance 1e-3.
- Q8_0: 0.01-0.04 (0.21 on a sentence the model finds very unlikely, -126
  nats): llama.cpp quantizes activations to 8 bits for Q8_0 matmuls too.
  Tolerance 0.1 on SENTENCE (measured 0.017).
- Q4_K_M: 0.03-0.53. Tolerance 2.0, which still catches a broken export (a
  wrong Q/K permutation costs tens of nats).
- Q4_1 and Q5_1 (legacy quantizations): 0.01-0.05 on the trained model, 0.3-0.73 on
  the untrained one, whose logits are nearly flat. Tolerance 2.0, as Q4_K_M.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evals.models.fixtures import MODEL_NAMES, TRAINED, UNTRAINED, VARIANTS, build_all
from evals.models.fixtures.build import DERIVED_SOURCES, MANIFEST, NO_BYTES, TRAINING_SOURCES
from evals.models.fixtures.chat_template import DEMO_CHAT_TEMPLATE
from evals.models.fixtures.quantize import tensor_types
from evals.models.fixtures.recipe import Recipe
from evals.models.gguf_files import inspect_gguf

llama_cpp = pytest.importorskip("llama_cpp")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

GGML_TYPE_F32 = 0
SENTENCE = (
    "question: gina has 5 bags with 5 eggs in each bag. how many eggs does gina have?\nanswer: 5 * 5 = 25. #### 25"
)
PROMPT = "question: dan has 4 stickers. he gets 3 more."
GREEDY_TOKENS = 16
TOLERANCE = {"F32": 1e-3, "Q8_0": 0.1, "Q4_K_M": 2.0, "Q4_1": 2.0, "Q5_1": 2.0}


# --- helpers -------------------------------------------------------------------
def _hf(model_dir: Path) -> tuple:
    tok = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    return tok, model.eval()


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _token_logprobs(logits: np.ndarray, ids: list[int]) -> np.ndarray:
    """log p(ids[i+1] | ids[:i+1]) from per-position logits."""
    lp = _log_softmax(logits[: len(ids) - 1])
    return lp[np.arange(len(ids) - 1), ids[1:]]


def _hf_logits(model, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


def _llama_logits(llm, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)])


def _hf_greedy(model, ids: list[int], n: int) -> list[int]:
    out = list(ids)
    for _ in range(n):
        out.append(int(_hf_logits(model, out)[-1].argmax()))
    return out[len(ids) :]


def _llama_greedy(llm, ids: list[int], n: int) -> list[int]:
    llm.reset()
    llm.eval(ids)
    out: list[int] = []
    for _ in range(n):
        out.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
        llm.eval([out[-1]])
    return out


@pytest.fixture(scope="module")
def hf_models(demo_models) -> dict[str, tuple]:
    return {name: _hf(m.hf_dir) for name, m in demo_models.items()}


@pytest.fixture(scope="module")
def llamas(demo_models) -> Iterator[dict[tuple[str, str], object]]:
    """Every GGUF variant loaded once, with an F32 KV cache so F32 compares exactly."""
    loaded = {
        (name, variant): llama_cpp.Llama(
            str(path),
            n_ctx=256,
            n_batch=256,
            n_threads=2,
            logits_all=True,
            type_k=GGML_TYPE_F32,
            type_v=GGML_TYPE_F32,
            verbose=False,
        )
        for name, m in demo_models.items()
        for variant, path in m.gguf.items()
    }
    yield loaded
    for llm in loaded.values():
        llm.close()  # explicit: llama.cpp's finalizer fails if it runs at interpreter exit


# --- build -----------------------------------------------------------------------
def test_build_is_complete_and_cached(demo_models) -> None:
    assert set(demo_models) == set(MODEL_NAMES)
    for m in demo_models.values():
        assert {p.name for p in m.hf_dir.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
        assert set(m.gguf) == set(VARIANTS) == {"F32", "Q8_0", "Q4_K_M", "Q4_1", "Q5_1"}
        assert hashlib.sha256((m.hf_dir / "model.safetensors").read_bytes()).hexdigest() == m.digest
    # Same recipe: the second call reuses the files rather than rebuilding.
    assert build_all() == demo_models
    assert demo_models[TRAINED].digest != demo_models[UNTRAINED].digest


def test_two_short_builds_are_byte_identical_and_new_quantizations_need_no_training(tmp_path: Path) -> None:
    """The whole pipeline (corpus, tokenizer, training, template, GGUF, quantization) twice, on a short
    recipe so it costs seconds: same weights, same GGUF bytes. The first build starts with one
    quantization and then gets the rest: they are derived from the weights already trained, in seconds,
    with no training stage, and come out byte-identical to a build that made them all at once."""
    short = replace(Recipe(), corpus_docs=2000, plan=replace(Recipe().plan, steps=20))
    first = build_all(tmp_path / "a", recipe=short, quantized=("Q8_0",))
    assert set(first[TRAINED].gguf) == {"F32", "Q8_0"}
    weights = (first[TRAINED].hf_dir / "model.safetensors").read_bytes()
    first = build_all(tmp_path / "a", recipe=short)
    assert (first[TRAINED].hf_dir / "model.safetensors").read_bytes() == weights
    timings = json.loads((tmp_path / "a" / TRAINED / MANIFEST).read_text())["timings_s"]
    assert TRAINED not in timings and "tokenizer" not in timings, timings  # derived only
    assert f"{TRAINED} quantize" in timings
    second = build_all(tmp_path / "b", recipe=short)
    for name, model in first.items():
        assert second[name].digest == model.digest, name
        assert set(model.gguf) == set(VARIANTS)
        for variant, path in model.gguf.items():
            assert second[name].gguf[variant].read_bytes() == path.read_bytes(), (name, variant)


def test_every_fixture_module_is_in_one_digest() -> None:
    """A module that changes the fixture bytes must be in a stage's digest, or its edits would serve stale files."""
    modules = {p.name for p in (Path(build_all.__code__.co_filename).parent).glob("*.py")}
    listed = [*TRAINING_SOURCES, *DERIVED_SOURCES, *NO_BYTES]
    assert sorted(listed) == sorted(modules) and len(set(listed)) == len(listed)


def test_hf_folder_and_every_gguf_carry_the_chat_template(demo_models, hf_models) -> None:
    for name, model in demo_models.items():
        tok, _ = hf_models[name]
        assert tok.chat_template == DEMO_CHAT_TEMPLATE
        for path in model.gguf.values():  # the quantizer keeps the F32 file's metadata
            assert inspect_gguf(path).chat_template == DEMO_CHAT_TEMPLATE, path


@pytest.mark.slow
def test_fresh_build_is_byte_identical(demo_models, tmp_path: Path) -> None:
    """One extra full build (about 1-2 minutes; `make test-slow`): same weights, same GGUF bytes."""
    fresh = build_all(tmp_path)
    for name, m in demo_models.items():
        assert fresh[name].digest == m.digest, name
        for variant, path in m.gguf.items():
            assert fresh[name].gguf[variant].read_bytes() == path.read_bytes(), (name, variant)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith((".build-", ".old-"))]


def test_quantizer_applies_k_quants(demo_models) -> None:
    """Rows are multiples of 256, so Q4_K_M uses real k-quants, no legacy fallback."""
    types = tensor_types(demo_models[TRAINED].gguf["Q4_K_M"])
    matrices = {n: t for n, t in types.items() if not n.endswith("norm.weight")}
    assert set(matrices.values()) <= {"Q4_K", "Q6_K"}, matrices
    assert matrices["output.weight"] == "Q6_K"
    q8 = tensor_types(demo_models[TRAINED].gguf["Q8_0"])
    assert {t for n, t in q8.items() if not n.endswith("norm.weight")} == {"Q8_0"}
    assert {t for n, t in q8.items() if n.endswith("norm.weight")} == {"F32"}


# --- transformers ----------------------------------------------------------------
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_hf_folder_loads_offline(hf_models, demo_models, name: str) -> None:
    tok, model = hf_models[name]
    ids = tok(PROMPT).input_ids
    assert ids[0] == model.config.bos_token_id == tok.bos_token_id
    assert tok.eos_token_id == model.config.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == PROMPT
    assert model.config.model_type == "llama"


def test_trained_beats_untrained(hf_models) -> None:
    """Held-out corpus documents (another seed): the trained model predicts them far better."""
    from evals.catalog.pack.corpus import training_texts

    texts = training_texts(seed=1, n=40)
    nll = {}
    for name in MODEL_NAMES:
        tok, model = hf_models[name]
        total, count = 0.0, 0
        for text in texts:
            ids = tok(text).input_ids
            lp = _token_logprobs(_hf_logits(model, ids), ids)
            total, count = total - lp.sum(), count + len(lp)
        nll[name] = total / count
    assert nll[UNTRAINED] > 6.0  # about ln(vocab): no knowledge
    assert nll[TRAINED] < 1.5, nll


def test_trained_beats_untrained_on_tasks(hf_models) -> None:
    """Multiple-choice accuracy on the offline eval items (disjoint from the corpus).

    Measured on 160 items per task: trained 0.67 / 0.99 / 0.99 (facts, story,
    yes/no), untrained 0.29 / 0.24 / 0.46 (chance: 0.25 / 0.25 / 0.5).
    """
    from evals.catalog.pack import items

    docs = items.eval_docs()
    accuracy = {}
    for name in MODEL_NAMES:
        tok, model = hf_models[name]
        correct = total = 0
        for task in ("facts", "story", "yesno"):
            for doc in docs[task][:40]:
                context = items.prompt_of(task, doc)
                choices = [" " + c for c in doc["choices"]] if "choices" in doc else [" no", " yes"]
                scores = []
                for choice in choices:
                    ctx_len = len(tok(context).input_ids)
                    ids = tok(context + choice).input_ids
                    scores.append(_token_logprobs(_hf_logits(model, ids), ids)[ctx_len - 1 :].sum())
                correct += int(np.argmax(scores) == doc["label"])
                total += 1
        accuracy[name] = correct / total
    assert accuracy[TRAINED] > accuracy[UNTRAINED] + 0.25, accuracy


# --- llama.cpp against transformers ----------------------------------------------
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_tokenization_matches(hf_models, llamas, name: str) -> None:
    from evals.catalog.pack.corpus import training_texts

    tok, _ = hf_models[name]
    llm = llamas[(name, "F32")]
    for text in [*training_texts(seed=2, n=200), "x = 1000000 + 2.5e3; y = 'it''s' \n\n  end"]:
        assert llm.tokenize(text.encode(), add_bos=True, special=False) == tok(text).input_ids, text


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loglikelihood_agrees(hf_models, llamas, name: str, variant: str) -> None:
    tok, model = hf_models[name]
    ids = tok(SENTENCE).input_ids
    hf = _token_logprobs(_hf_logits(model, ids), ids).sum()
    gguf = _token_logprobs(_llama_logits(llamas[(name, variant)], ids), ids).sum()
    assert abs(hf - gguf) < TOLERANCE[variant], (hf, gguf)


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        (TRAINED, "F32"),
        (TRAINED, "Q8_0"),
        (UNTRAINED, "F32"),
        # Not (UNTRAINED, "Q8_0"): an untrained model's logits are nearly flat,
        # so Q8_0's rounding legitimately flips near-tied argmaxes.
    ],
)
def test_greedy_continuation_matches(hf_models, llamas, name: str, variant: str) -> None:
    tok, model = hf_models[name]
    ids = tok(PROMPT).input_ids
    assert _llama_greedy(llamas[(name, variant)], ids, GREEDY_TOKENS) == _hf_greedy(model, ids, GREEDY_TOKENS)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_q4_k_m_generates(hf_models, llamas, name: str) -> None:
    tok, _ = hf_models[name]
    out = _llama_greedy(llamas[(name, "Q4_K_M")], tok(PROMPT).input_ids, GREEDY_TOKENS)
    assert len(out) == GREEDY_TOKENS and all(0 <= t < len(tok) for t in out)
