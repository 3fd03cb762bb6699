"""Edge measurement: throughput, latency and memory of one loaded model, the way llama-bench measures.

For each variant, on its own backend (llama.cpp or transformers), in a
process that has the node to itself:

- **prompt processing** (``pp``): a prompt of ``prompt_tokens`` token ids is
  evaluated from an empty KV cache; rate = tokens / seconds. Its time is also
  the **time to first token** (the logits of the first new token are ready).
- **generation** (``tg``): ``gen_tokens`` single-token steps from an empty
  cache, each feeding a fixed token id; rate = tokens / seconds, and
  **ms per token** = 1000 / rate.
- one warm-up run of both, then ``repetitions`` measured runs; each metric is
  the mean and sample standard deviation of its per-repetition values.
- tokenization and sampling are excluded, as in llama-bench: the inputs are
  seeded random token ids, and nothing is sampled (generation feeds ids chosen
  up front, so the timed loop is model evaluation only).
- Python's garbage collector is paused over the warm-up and the repetitions
  (as ``timeit`` does): a collection set off by the interpreter's own
  allocations would otherwise land, now and then, inside one repetition and
  bill a pause of tens of milliseconds to the model.
- **peak memory** in GB (10^9 bytes): on CPU the process's peak resident set
  over the measurement (``VmHWM``, reset first through ``/proc/self/clear_refs``;
  where that is refused, ``ru_maxrss``, the peak since the process started);
  on CUDA ``torch.cuda.max_memory_allocated`` (transformers) or the process's
  memory from NVML (llama.cpp; not measured without ``pynvml``).
- **model size**: the bytes of the weight files (GB).

On llama.cpp the timed calls are ``llama_decode`` on llama.cpp's own batches,
and the same calls are read back from llama.cpp's performance counters
(``llama_perf_context``: ``t_p_eval_ms``/``n_p_eval`` for prompts,
``t_eval_ms``/``n_eval`` for single tokens): ``EdgeMeasurement.counters``
holds those rates so a test can check that both agree.

The measurement borrows the backend's loaded model and context and leaves its
KV cache empty afterwards. It imports no orchestration; ``ModelWorker.measure_edge``
is the actor's entry point.
"""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from contracts.tables import EDGE, EDGE_UNITS

GB = 1e9
_SEED = 1234


@dataclass(frozen=True)
class HardwareProfile:
    """What an edge figure was measured on; figures of different profiles are not comparable."""

    device: str  # cpu | cuda
    cpu: str
    threads: int
    gpu: str | None = None
    gpu_driver: str | None = None

    @property
    def name(self) -> str:
        """The profile's key, stored on every edge row: ``cpu/<model>/<n>t`` or ``cuda/<gpu>/<driver>/<model>/<n>t``."""
        parts = [self.device]
        if self.device == "cuda":
            parts += [self.gpu or "unknown gpu", f"driver {self.gpu_driver or 'unknown'}"]
        return "/".join([*parts, self.cpu, f"{self.threads}t"])

    def to_json(self) -> str:
        return json.dumps(self.__dict__ | {"name": self.name}, sort_keys=True)


@dataclass(frozen=True)
class EdgeMeasurement:
    """Per-repetition values of each edge metric, and the single-valued ones."""

    backend: str
    device: str
    threads: int
    prompt_tokens: int
    gen_tokens: int
    samples: dict[str, tuple[float, ...]]  # metric -> one value per repetition
    peak_memory_gb: float | None  # None: not measured on this platform
    model_size_gb: float
    memory_method: str
    # llama.cpp only: the same rates from llama.cpp's own counters ("prompt_tokens_per_s", "tokens_per_s"),
    # and the tokens those counters saw per repetition (n_p_eval, n_eval)
    counters: dict[str, tuple[float, ...]] = field(default_factory=dict)
    counter_tokens: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def repetitions(self) -> int:
        return len(next(iter(self.samples.values())))

    def summary(self) -> dict[str, tuple[float, float | None, int]]:
        """metric -> (mean, sample sd or None with one repetition, repetitions); unmeasured metrics left out."""
        out: dict[str, tuple[float, float | None, int]] = {}
        for metric, values in self.samples.items():
            sd = statistics.stdev(values) if len(values) > 1 else None
            out[metric] = (statistics.fmean(values), sd, len(values))
        if self.peak_memory_gb is not None:
            out["peak_memory_gb"] = (self.peak_memory_gb, None, 1)
        out["model_size_gb"] = (self.model_size_gb, None, 1)
        return out


def edge_rows(run_id: str, variant_id: str, measurement: EdgeMeasurement, profile: HardwareProfile) -> pl.DataFrame:
    """The measurement as rows of ``contracts.tables.EDGE`` (a metric not measured has no row, never a 0)."""
    rows = [
        {
            "run_id": run_id,
            "variant_id": variant_id,
            "metric": metric,
            "mean": mean,
            "sd": sd,
            "repetitions": n,
            "hardware_profile": profile.name,
            "unit": EDGE_UNITS[metric],
        }
        for metric, (mean, sd, n) in measurement.summary().items()
        if mean > 0  # a zero throughput or size cannot be a measurement: leave it missing
    ]
    return EDGE.conform(pl.DataFrame(rows, schema=EDGE.schema))


def hardware_profile(device: str, threads: int) -> HardwareProfile:
    """This machine's profile for a measurement on ``device`` with ``threads`` CPU threads."""
    from evals.versions import hardware_profile as machine

    cpu = str(machine()["cpu"])
    if device != "cuda":
        return HardwareProfile(device="cpu", cpu=cpu, threads=threads)
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return HardwareProfile(device="cuda", cpu=cpu, threads=threads, gpu=gpu, gpu_driver=_gpu_driver())


def _gpu_driver() -> str | None:
    try:
        import pynvml
    except ImportError:
        pass
    else:
        pynvml.nvmlInit()
        driver = pynvml.nvmlSystemGetDriverVersion()
        return driver.decode() if isinstance(driver, bytes) else str(driver)
    version = Path("/proc/driver/nvidia/version")
    if version.is_file():
        # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  ..."
        for word in version.read_text().split():
            if word[:1].isdigit() and word.count(".") >= 1:
                return word
    return None


def model_size_gb(path: Path) -> float:
    """Bytes of the weight files at ``path`` (a GGUF file, or an HF folder's safetensors), in GB."""
    if path.is_file():
        return path.stat().st_size / GB
    files = list(path.glob("*.safetensors")) + list(path.glob("*.gguf"))
    return sum(f.stat().st_size for f in files) / GB


class _PeakRss:
    """Peak resident memory of this process over a span (CPU)."""

    def __init__(self) -> None:
        try:
            # "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM over the measurement"
        except OSError:
            self.method = "ru_maxrss since process start"

    def read_gb(self) -> float:
        if self.method.startswith("VmHWM"):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / GB
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB


def _check(prompt_tokens: int, gen_tokens: int, repetitions: int) -> None:
    if prompt_tokens < 1 or gen_tokens < 1:
        raise ValueError(f"measure_edge: prompt_tokens and gen_tokens must be >= 1, got {prompt_tokens}, {gen_tokens}")
    if repetitions < 1:
        raise ValueError(f"measure_edge: repetitions must be >= 1, got {repetitions}")


def measure_edge(lm: Any, *, prompt_tokens: int = 512, gen_tokens: int = 128, repetitions: int = 5) -> EdgeMeasurement:
    """Measure a loaded backend (``LlamaCppLM`` or ``TransformersLM``); see the module docstring."""
    _check(prompt_tokens, gen_tokens, repetitions)
    from evals.backends.llamacpp import LlamaCppLM

    if isinstance(lm, LlamaCppLM):
        return _measure_llamacpp(lm, prompt_tokens, gen_tokens, repetitions)
    from evals.backends.transformers import TransformersLM

    if isinstance(lm, TransformersLM):
        return _measure_transformers(lm, prompt_tokens, gen_tokens, repetitions)
    raise TypeError(f"measure_edge: no edge measurement for {type(lm).__name__}; give a LlamaCppLM or TransformersLM")


def _rates(pp_s: list[float], tg_s: list[float], prompt_tokens: int, gen_tokens: int) -> dict[str, tuple[float, ...]]:
    return {
        "prompt_tokens_per_s": tuple(prompt_tokens / t for t in pp_s),
        "tokens_per_s": tuple(gen_tokens / t for t in tg_s),
        "ms_per_token": tuple(1000.0 * t / gen_tokens for t in tg_s),
        "latency_ms": tuple(1000.0 * t for t in pp_s),
    }


# -- llama.cpp ---------------------------------------------------------------


def _measure_llamacpp(lm: Any, prompt_tokens: int, gen_tokens: int, repetitions: int) -> EdgeMeasurement:
    import ctypes

    import llama_cpp

    llama = lm._llama
    ctx = llama.ctx
    n_ctx = llama_cpp.llama_n_ctx(ctx)
    if max(prompt_tokens, gen_tokens) > n_ctx:
        raise ValueError(f"measure_edge: {max(prompt_tokens, gen_tokens)} tokens do not fit the {n_ctx}-token context")
    n_batch = llama_cpp.llama_n_batch(ctx)
    vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(llama.model))
    rng = np.random.default_rng(_SEED)
    prompt = (llama_cpp.llama_token * prompt_tokens)(*rng.integers(0, vocab, prompt_tokens).tolist())
    step = (llama_cpp.llama_token * 1)(int(rng.integers(0, vocab)))
    memory = llama_cpp.llama_get_memory(ctx)

    def batch(tokens: Any, offset: int, n: int) -> Any:
        address = ctypes.addressof(tokens) + offset * ctypes.sizeof(llama_cpp.llama_token)
        return llama_cpp.llama_batch_get_one(ctypes.cast(address, ctypes.POINTER(llama_cpp.llama_token)), n)

    # built before timing; llama-bench splits a prompt by n_batch too
    prompt_batches = [batch(prompt, o, min(n_batch, prompt_tokens - o)) for o in range(0, prompt_tokens, n_batch)]
    step_batch = batch(step, 0, 1)

    def decode(b: Any) -> None:
        if llama_cpp.llama_decode(ctx, b) != 0:
            raise RuntimeError("measure_edge: llama_decode failed")

    def pp() -> float:
        llama_cpp.llama_memory_clear(memory, True)
        start = time.perf_counter()
        for b in prompt_batches:
            decode(b)
        llama_cpp.llama_synchronize(ctx)
        return time.perf_counter() - start

    def tg() -> float:
        llama_cpp.llama_memory_clear(memory, True)
        start = time.perf_counter()
        for _ in range(gen_tokens):
            decode(step_batch)
            # per token, as llama-bench: llama.cpp books a synchronized single-token decode as "eval"
            llama_cpp.llama_synchronize(ctx)
        return time.perf_counter() - start

    peak = _PeakRss() if lm.spec.device == "cpu" else None
    pp_s: list[float] = []
    tg_s: list[float] = []
    counted: dict[str, list[float]] = {"prompt_tokens_per_s": [], "tokens_per_s": []}
    counted_tokens: dict[str, list[int]] = {"prompt_tokens_per_s": [], "tokens_per_s": []}
    try:
        with _gc_paused():
            pp(), tg()  # warm-up
            for _ in range(repetitions):
                llama_cpp.llama_perf_context_reset(ctx)
                pp_s.append(pp())
                tg_s.append(tg())
                perf = llama_cpp.llama_perf_context(ctx)
                counted["prompt_tokens_per_s"].append(1000.0 * perf.n_p_eval / perf.t_p_eval_ms)
                counted["tokens_per_s"].append(1000.0 * perf.n_eval / perf.t_eval_ms)
                counted_tokens["prompt_tokens_per_s"].append(int(perf.n_p_eval))
                counted_tokens["tokens_per_s"].append(int(perf.n_eval))
    finally:
        # hand the backend back an empty cache: its prefix reuse trusts n_tokens
        llama_cpp.llama_memory_clear(memory, True)
        llama.n_tokens = 0
    if peak is not None:
        peak_gb: float | None = peak.read_gb()
        method = peak.method
    else:
        peak_gb, method = _nvml_process_gb(), "NVML process memory"
    return EdgeMeasurement(
        backend="llamacpp",
        device=lm.spec.device,
        threads=int(llama_cpp.llama_n_threads(ctx)),
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        samples=_rates(pp_s, tg_s, prompt_tokens, gen_tokens),
        peak_memory_gb=peak_gb,
        model_size_gb=model_size_gb(lm.spec.path),
        memory_method=method,
        counters={k: tuple(v) for k, v in counted.items()},
        counter_tokens={k: tuple(v) for k, v in counted_tokens.items()},
    )


def _nvml_process_gb() -> float | None:
    """GPU memory this process holds, from NVML; None (not measured) without pynvml."""
    try:
        import pynvml
    except ImportError:
        return None
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
        if proc.pid == os.getpid() and proc.usedGpuMemory:
            return proc.usedGpuMemory / GB
    return None


# -- transformers ------------------------------------------------------------


def _measure_transformers(lm: Any, prompt_tokens: int, gen_tokens: int, repetitions: int) -> EdgeMeasurement:
    import torch

    model = lm.model
    device = torch.device(lm.spec.device)
    cuda = device.type == "cuda"
    vocab = int(model.config.vocab_size)
    rng = np.random.default_rng(_SEED)
    prompt = torch.tensor([rng.integers(0, vocab, prompt_tokens).tolist()], device=device)
    step = torch.tensor([[int(rng.integers(0, vocab))]], device=device)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def pp() -> float:
        sync()
        start = time.perf_counter()
        # logits_to_keep=1: only the next token's logits, as llama.cpp computes for a prompt
        model(prompt, use_cache=True, logits_to_keep=1)
        sync()
        return time.perf_counter() - start

    def tg() -> float:
        sync()
        start = time.perf_counter()
        past = None
        for _ in range(gen_tokens):
            past = model(step, past_key_values=past, use_cache=True).past_key_values
        sync()
        return time.perf_counter() - start

    peak = None if cuda else _PeakRss()
    with torch.inference_mode(), _gc_paused():
        pp(), tg()  # warm-up
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        pp_s, tg_s = [], []
        for _ in range(repetitions):
            pp_s.append(pp())
            tg_s.append(tg())
    if cuda:
        peak_gb: float | None = torch.cuda.max_memory_allocated(device) / GB
        method = "torch.cuda.max_memory_allocated"
    else:
        peak_gb, method = peak.read_gb(), peak.method  # type: ignore[union-attr]
    return EdgeMeasurement(
        backend="transformers",
        device=device.type,
        threads=torch.get_num_threads(),
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        samples=_rates(pp_s, tg_s, prompt_tokens, gen_tokens),
        peak_memory_gb=peak_gb,
        model_size_gb=model_size_gb(lm.spec.path),
        memory_method=method,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (see the module docstring); one collection before."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def coefficient_of_variation(values: list[float]) -> float:
    """Sample sd / mean, in percent (0 for a single value)."""
    if len(values) < 2:
        return 0.0
    mean = statistics.fmean(values)
    return 100.0 * statistics.stdev(values) / mean if mean else math.inf
