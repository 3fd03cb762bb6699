"""The edge probe: the four operations edge measurement needs from a loaded backend.

``evals.edge.measurement`` holds the method (llama-bench's: warm-up, repetitions, what is
timed); each backend module implements the operations on its own model, so
nothing outside it touches its internals:

- ``reset()``: empty the KV cache;
- ``prefill()``: evaluate the prompt's token ids from an empty cache;
- ``decode()``: one single-token step on the cache so far;
- ``reset_peak_memory()`` / ``peak_memory()``: the peak memory since the reset.

``synchronize()`` waits for queued device work (CUDA), so a timer around an
operation measures the work itself. A probe is a context manager: inside it the
backend is in measuring mode (torch's inference mode), and leaving it hands
the backend back ready to evaluate (llama.cpp: an empty cache).
"""

from __future__ import annotations

import resource
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

GB = 1e9


class EdgeProbe(ABC):
    """Base of the backends' probes: the CPU memory reading they share, and no-op hooks."""

    backend: str
    device: str  # cpu | cuda
    threads: int
    weights: Path  # a GGUF file, or an HF folder
    vocab_size: int
    context: int | None  # tokens that fit the context; None: no fixed window

    def __init__(self) -> None:
        self._peak_rss = PeakRss()

    @abstractmethod
    def set_inputs(self, prompt: list[int], step: int) -> None:
        """The prompt's token ids and the token each decode step feeds (the method chooses them)."""

    @abstractmethod
    def reset(self) -> None:
        """Empty the KV cache."""

    @abstractmethod
    def prefill(self) -> None:
        """Evaluate the prompt from an empty cache (the logits of the next token only)."""

    @abstractmethod
    def decode(self) -> None:
        """One single-token step on the cache so far."""

    def synchronize(self) -> None:  # noqa: B027 (a hook: a CPU backend computes synchronously)
        """Wait for the device."""

    def reset_peak_memory(self) -> None:
        self._peak_rss.reset()

    def peak_memory(self) -> tuple[float | None, str]:
        """Peak memory in GB since :meth:`reset_peak_memory` (None: not measurable here), and how it was read."""
        return self._peak_rss.read_gb(), self._peak_rss.method

    def counters(self) -> dict[str, tuple[float, int]]:
        """The backend's own figures of the last prefill and decodes: metric -> (tokens/s, tokens); none by default."""
        return {}

    def reset_counters(self) -> None:  # noqa: B027 (a hook: most backends keep no counters)
        """Start the backend's own counters afresh."""

    def __enter__(self) -> EdgeProbe:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.reset()


class PeakRss:
    """Peak resident memory of this process over a span (CPU)."""

    def __init__(self) -> None:
        self.method = "VmHWM over the measurement"

    def reset(self) -> None:
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
