"""Every evaluation backend, declared once: its name, the weights it runs, and the traits the engine acts on.

A backend is an lm-eval ``LM`` in ``evals/backends/`` plus one entry here. Nothing
else names a backend or branches on one: planning asks whether it batches, the
worker whether it loads a dtype and seeds torch, the cache key which libraries
can move its scores, the reproduce box which lm-eval model gives its numbers.
This is plain data (no library is imported), so contracts, planners and the
site read it without loading torch or llama.cpp.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    """What the engine needs to know of one backend, without loading it."""

    name: str
    # The LM class, as "module:Class": imported only when a worker loads a variant on it.
    lm_class: str
    # The submission ``format`` whose variants run here.
    weight_format: str
    # Requests per forward pass (``--batch-size``) apply; otherwise a unit runs one at a time.
    batches: bool
    # Loads the weights in the variant's precision (FP32/FP16/BF16); otherwise the file fixes it.
    takes_dtype: bool
    # Its scores go through torch: lm-eval seeds torch, the worker pins torch's threads.
    uses_torch: bool
    # The distributions whose versions can move its scores (with lm_eval and datasets): the cache key's.
    libraries: tuple[str, ...]
    # lm-eval's own model type that gives the same numbers, for the reproduce box; None when none does.
    lm_eval_model: str | None
    # Why plain lm-eval cannot reproduce its scores, when ``lm_eval_model`` is None.
    lm_eval_why_not: str | None = None


TRANSFORMERS = Backend(
    name="transformers",
    lm_class="evals.backends.transformers:TransformersLM",
    weight_format="safetensors",
    batches=True,
    takes_dtype=True,
    uses_torch=True,
    libraries=("torch", "transformers", "accelerate", "tokenizers"),
    lm_eval_model="hf",
)
LLAMACPP = Backend(
    name="llamacpp",
    lm_class="evals.backends.llamacpp:LlamaCppLM",
    weight_format="gguf",
    batches=False,
    takes_dtype=False,
    uses_torch=False,
    libraries=("llama_cpp_python",),
    lm_eval_model=None,
    lm_eval_why_not=(
        "This score was measured with llama.cpp (in process, float32 KV cache), and lm-eval has no in-process "
        "llama.cpp model: its gguf model type goes through llama.cpp's server, which drops the last token of every "
        "continuation, and its HF model dequantizes the GGUF file, while llama.cpp also quantizes activations, so "
        "neither gives this number. The SLM Bench command reproduces it."
    ),
)

BACKENDS: dict[str, Backend] = {b.name: b for b in (TRANSFORMERS, LLAMACPP)}
BACKEND_NAMES = tuple(BACKENDS)


def backend_for_format(weight_format: str) -> Backend:
    """The backend a submission's variant of this ``format`` runs on."""
    for backend in BACKENDS.values():
        if backend.weight_format == weight_format:
            return backend
    raise KeyError(
        f"no backend runs format {weight_format!r}; known: {sorted(b.weight_format for b in BACKENDS.values())}"
    )
