"""Edge measurement: throughput, latency and memory of one loaded model, the way llama-bench measures.

The method lives here; the operations it times live in each backend's probe
(``evals.backends.probe``: reset, prefill, decode a step, peak memory), so this
module never reaches into a backend. For each variant, in a process that has
the node to itself:

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
- **peak memory** in GB (10^9 bytes) over the repetitions (the probe resets
  it after the warm-up): on CPU the process's peak resident set (``VmHWM``,
  reset through ``/proc/self/clear_refs``; where that is refused,
  ``ru_maxrss``, the peak since the process started); on CUDA
  ``torch.cuda.max_memory_allocated`` (transformers) or the process's memory
  from NVML (llama.cpp; not measured without ``pynvml``).
- **model size**: the bytes of the weight files (GB).

Where a backend keeps its own counters (llama.cpp's ``llama_perf_context``),
``EdgeMeasurement.counters`` holds the same rates from them, so a test can
check that both agree.

The measurement borrows the backend's loaded model and hands it back ready to
evaluate. It imports no orchestration; ``ModelWorker.measure_edge`` is the
actor's entry point and returns an :class:`EdgeReport`.
"""

from __future__ import annotations

import gc
import json
import math
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
from evals.backends.probe import GB, EdgeProbe

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


@dataclass(frozen=True)
class EdgeReport:
    """How the edge unit of one variant ended: its EDGE rows, or why there are none (failures are data)."""

    variant_id: str
    rows: tuple[dict[str, object], ...] = ()
    error: str | None = None
    reused_from: str | None = None  # the run that measured the figures, when they were reused (evals.edge.reuse)

    @property
    def name(self) -> str:
        return f"{self.variant_id}/edge"


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
    from evals.provenance import hardware_profile as machine

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


def _check(prompt_tokens: int, gen_tokens: int, repetitions: int) -> None:
    if prompt_tokens < 1 or gen_tokens < 1:
        raise ValueError(f"measure_edge: prompt_tokens and gen_tokens must be >= 1, got {prompt_tokens}, {gen_tokens}")
    if repetitions < 1:
        raise ValueError(f"measure_edge: repetitions must be >= 1, got {repetitions}")


def measure_edge(lm: Any, *, prompt_tokens: int = 512, gen_tokens: int = 128, repetitions: int = 5) -> EdgeMeasurement:
    """Measure a loaded backend (any ``LM`` with an ``edge_probe()``); see the module docstring."""
    _check(prompt_tokens, gen_tokens, repetitions)
    if not hasattr(lm, "edge_probe"):
        raise TypeError(f"measure_edge: {type(lm).__name__} has no edge probe; give a LlamaCppLM or TransformersLM")
    probe: EdgeProbe = lm.edge_probe()
    if probe.context is not None and max(prompt_tokens, gen_tokens) > probe.context:
        raise ValueError(
            f"measure_edge: {max(prompt_tokens, gen_tokens)} tokens do not fit the {probe.context}-token context"
        )
    rng = np.random.default_rng(_SEED)
    probe.set_inputs(rng.integers(0, probe.vocab_size, prompt_tokens).tolist(), int(rng.integers(0, probe.vocab_size)))

    def pp() -> float:
        probe.reset()
        probe.synchronize()
        start = time.perf_counter()
        probe.prefill()
        probe.synchronize()
        return time.perf_counter() - start

    def tg() -> float:
        probe.reset()
        probe.synchronize()
        start = time.perf_counter()
        for _ in range(gen_tokens):
            probe.decode()
        probe.synchronize()
        return time.perf_counter() - start

    pp_s: list[float] = []
    tg_s: list[float] = []
    counted: dict[str, list[tuple[float, int]]] = {}
    with probe, _gc_paused():
        pp(), tg()  # warm-up
        probe.reset_peak_memory()
        for _ in range(repetitions):
            probe.reset_counters()
            pp_s.append(pp())
            tg_s.append(tg())
            for metric, figure in probe.counters().items():
                counted.setdefault(metric, []).append(figure)
    peak_gb, method = probe.peak_memory()
    return EdgeMeasurement(
        backend=probe.backend,
        device=probe.device,
        threads=probe.threads,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        samples=_rates(pp_s, tg_s, prompt_tokens, gen_tokens),
        peak_memory_gb=peak_gb,
        model_size_gb=model_size_gb(probe.weights),
        memory_method=method,
        counters={k: tuple(rate for rate, _ in v) for k, v in counted.items()},
        counter_tokens={k: tuple(n for _, n in v) for k, v in counted.items()},
    )


def _rates(pp_s: list[float], tg_s: list[float], prompt_tokens: int, gen_tokens: int) -> dict[str, tuple[float, ...]]:
    return {
        "prompt_tokens_per_s": tuple(prompt_tokens / t for t in pp_s),
        "tokens_per_s": tuple(gen_tokens / t for t in tg_s),
        "ms_per_token": tuple(1000.0 * t / gen_tokens for t in tg_s),
        "latency_ms": tuple(1000.0 * t for t in pp_s),
    }


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
