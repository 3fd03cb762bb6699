"""One typed, frozen description of how to load a model for evaluation.

A ``BackendSpec`` is plain data: it can travel to a Ray actor, become part of
a cache key, or be shown as a form. It checks its own shape (names, ranges,
which options belong to which backend) but never touches the disk or a
library; the backend checks files when it loads, before any weights are read.

Examples::

    BackendSpec(backend="transformers", path="fixtures/demo-tiny/hf")
    BackendSpec(backend="transformers", path="models/stories260K.gguf")  # GGUF, dequantized
    BackendSpec(backend="llamacpp", path="models/stories260K.gguf", n_threads=2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.names import did_you_mean

Dtype = Literal["float32", "float16", "bfloat16"]
KvCacheDtype = Literal["float32", "float16"]
Device = Literal["cpu", "cuda"]
# How the transformers backend scores log-likelihoods: each shared token prefix once
# (evals.backends.prefix_scoring), or lm-eval's HFLM as it is (a whole pass per request).
Scorer = Literal["shared-prefix", "hflm"]


def unknown_backend(name: str, known: list[str]) -> str:
    """The message for a backend name that is not registered."""
    return f"unknown backend {name!r}{did_you_mean(name, known)}; known: {', '.join(repr(k) for k in known)}"


# lm-eval's HFLM until shared-prefix scoring passes every exactness test that compares with lm-eval's CLI:
# it matches HFLM within 1e-5 per request, but the sharded-run and user-suite tests, which hold scores to
# lm-eval's to 1e-9, do not pass with it yet. ``scorer="shared-prefix"`` turns it on.
DEFAULT_SCORER: Scorer = "hflm"


def scorer_name(backend: str, scorer: Scorer | None = None) -> str:
    """The runs table's ``scorer`` for a backend: ``shared-prefix``/``hflm`` (transformers) or ``llamacpp-prefix-cache``."""
    if backend == "llamacpp":
        return "llamacpp-prefix-cache"
    return scorer or DEFAULT_SCORER


class BackendSpec(BaseModel):
    """How to load one model variant: which backend, which weights, which knobs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = Field(description="'transformers' (HF safetensors or GGUF dequantized) or 'llamacpp' (GGUF)")
    path: Path = Field(description="HF model folder, or a .gguf file")
    # None means float32: the reference precision that all backends are compared on.
    dtype: Dtype | None = Field(default=None, description="transformers only: weight and compute dtype")
    gguf_file: str | None = Field(
        default=None,
        description="transformers only: a GGUF file name inside `path` (a folder) to load dequantized",
    )
    # None means float32, not llama.cpp's own float16 default: a float16 KV cache alone moves
    # stories260K's log-likelihoods by up to 5e-3 nats, which would blur the weight-quantization
    # effect the leaderboard measures. With float32, an F32 GGUF matches transformers to ~1e-5.
    kv_cache_dtype: KvCacheDtype | None = Field(default=None, description="llamacpp only: KV cache precision")
    device: Device = "cpu"
    # None lets the backend pick (llama-cpp-python: half the cores, all for prompts; torch: its own). Give each
    # worker its own share: oversubscribed, llama.cpp's spinning threads slow down ~50x (2 cores).
    n_threads: int | None = Field(default=None, ge=1)
    # transformers only: requests per forward pass, padded on the right. A padded batch moves each
    # log-likelihood by float32 rounding only (SDPA tiles the padded keys differently; about 1e-7
    # relative), so scores agree across batch sizes (tests/evals/backends/test_batch_size.py).
    # "auto" (CUDA only): the largest batch that fits, halved on out-of-memory as lm-eval's auto does.
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = 1
    # transformers only; None is "shared-prefix". Scores agree with "hflm" within float32 rounding
    # (tests/evals/backends/test_prefix_scoring.py), so the scorer is recorded with a run, not keyed.
    scorer: Scorer | None = None
    # lm-eval's own default seed, so a bare spec reproduces a bare lm-eval run.
    seed: int = 1234
    # None means the model's own trained context length.
    n_ctx: int | None = Field(default=None, ge=8)
    # Offline first: only a caller that names a hub model turns this off.
    local_files_only: bool = True

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        # Imported here: the package __init__ holds the one registry and imports this module.
        from evals.backends import REGISTRY

        if value not in REGISTRY:
            raise ValueError(unknown_backend(value, list(REGISTRY)))
        return value

    @model_validator(mode="after")
    def _options_fit_backend(self) -> BackendSpec:
        if self.backend == "llamacpp":
            if self.dtype is not None:
                raise ValueError(
                    "dtype: applies to backend 'transformers' only; a GGUF file fixes its own "
                    "weight type (pick a Q8_0/F32 file instead), so leave dtype unset"
                )
            if self.gguf_file is not None:
                raise ValueError(
                    "gguf_file: applies to backend 'transformers' only; for 'llamacpp' put the "
                    ".gguf file itself in `path`"
                )
            if self.path.suffix != ".gguf":
                raise ValueError(f"path: backend 'llamacpp' needs a .gguf file, got {str(self.path)!r}")
            if self.batch_size != 1:
                raise ValueError(
                    "batch_size: applies to backend 'transformers' only; llama.cpp here scores one request at a "
                    "time (reusing the KV cache of the prefix it shares with the previous one), so leave it 1"
                )
            if self.scorer is not None:
                raise ValueError(
                    "scorer: applies to backend 'transformers' only; llama.cpp always reuses the KV cache of "
                    "the prefix a request shares with the one before it, so leave scorer unset"
                )
        if self.batch_size == "auto" and self.device != "cuda":
            raise ValueError(
                "batch_size: 'auto' sizes batches to a CUDA device's memory; on device 'cpu' give a number "
                "(1 is the default)"
            )
        if self.backend == "transformers" and self.kv_cache_dtype is not None:
            raise ValueError(
                "kv_cache_dtype: applies to backend 'llamacpp' only; transformers keeps its cache "
                "in `dtype`, so leave kv_cache_dtype unset"
            )
        if self.gguf_file is not None and self.path.suffix == ".gguf":
            raise ValueError(
                "gguf_file: `path` is already a .gguf file; give either path=<file.gguf> "
                "or path=<folder> with gguf_file=<name>, not both"
            )
        return self

    @property
    def torch_dtype_name(self) -> Dtype:
        """The dtype transformers loads with (float32 unless asked otherwise)."""
        return self.dtype or "float32"

    @property
    def scorer_name(self) -> str:
        """What scores log-likelihoods: the runs table's ``scorer`` column."""
        return scorer_name(self.backend, self.scorer)

    @property
    def gguf_path(self) -> Path | None:
        """The GGUF file this spec loads, or None for HF safetensors weights."""
        if self.path.suffix == ".gguf":
            return self.path
        if self.gguf_file is not None:
            return self.path / self.gguf_file
        return None
