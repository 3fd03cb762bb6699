"""Edge measurement on the real tiny models: llama-bench's method, llama.cpp's own counters, EDGE rows."""

from __future__ import annotations

import statistics
from pathlib import Path

import polars as pl
import pytest

from contracts.tables import EDGE, EDGE_UNITS
from evals.backends import BackendSpec, load_backend
from evals.edge.measurement import EdgeMeasurement, HardwareProfile, edge_rows, hardware_profile, measure_edge

# small sizes: the method, not the figures, is under test
PROMPT, GEN, REPS = 64, 16, 3


@pytest.fixture(scope="module")
def llama_lm(demo_gguf: Path):
    lm = load_backend(BackendSpec(backend="llamacpp", path=demo_gguf, n_threads=1))
    yield lm
    lm.close()


def test_llamacpp_figures_agree_with_llamacpps_own_counters(llama_lm) -> None:
    """We time the very llama_decode calls llama_perf_context counts, and agree with it within 5%.

    llama.cpp times inside llama_decode; our clock also spans the ctypes calls
    around it, a few microseconds a token. At the default sizes (512-token
    prompt, 128 tokens) that stays near 3% even on stories260K, whose tokens
    take ~0.2 ms; with a handful of tokens the fixed cost of a run would
    dominate, so this test uses the sizes the platform measures with.
    """
    m = measure_edge(llama_lm, repetitions=REPS)
    for metric, tokens in (("prompt_tokens_per_s", m.prompt_tokens), ("tokens_per_s", m.gen_tokens)):
        ours, theirs, counted = m.samples[metric], m.counters[metric], m.counter_tokens[metric]
        # the counters saw exactly the tokens we timed: the same calls, no more, no fewer
        assert counted == (tokens,) * REPS, (metric, counted)
        for a, b in zip(ours, theirs, strict=True):
            # our span contains theirs (2% slack: llama.cpp's clock rounds each call to microseconds)
            assert a <= b * 1.02, (metric, a, b)
        # the median repetition: a preemption between two calls lands on our clock only
        gap = statistics.median(abs(a - b) / b for a, b in zip(ours, theirs, strict=True))
        assert gap < 0.05, (metric, ours, theirs)


def test_measurement_is_consistent_and_leaves_the_backend_usable(llama_lm) -> None:
    before = llama_lm._score(llama_lm.tok_encode("Once upon a time"), llama_lm.tok_encode(" there"))
    m = measure_edge(llama_lm, prompt_tokens=PROMPT, gen_tokens=GEN, repetitions=REPS)
    assert (m.backend, m.prompt_tokens, m.gen_tokens, m.repetitions, m.threads) == ("llamacpp", PROMPT, GEN, REPS, 1)
    for tps, ms in zip(m.samples["tokens_per_s"], m.samples["ms_per_token"], strict=True):
        assert ms == pytest.approx(1000.0 / tps)
    for tps, ttft in zip(m.samples["prompt_tokens_per_s"], m.samples["latency_ms"], strict=True):
        assert ttft == pytest.approx(1000.0 * PROMPT / tps)
    assert m.peak_memory_gb is not None and 0.001 < m.peak_memory_gb < 64
    assert m.model_size_gb == pytest.approx(Path(llama_lm.spec.path).stat().st_size / 1e9)
    # the backend's KV-cache reuse must not see the measurement's tokens
    after = llama_lm._score(llama_lm.tok_encode("Once upon a time"), llama_lm.tok_encode(" there"))
    assert after == pytest.approx(before, abs=1e-6)


def test_transformers_backend_is_measured_too(demo_gguf: Path) -> None:
    lm = load_backend(BackendSpec(backend="transformers", path=demo_gguf, n_threads=1))
    m = measure_edge(lm, prompt_tokens=PROMPT, gen_tokens=GEN, repetitions=2)
    assert m.backend == "transformers" and m.counters == {}
    assert set(m.summary()) == set(EDGE_UNITS)
    assert all(v > 0 for values in m.samples.values() for v in values)


def test_rows_match_the_edge_contract_and_carry_the_profile() -> None:
    m = EdgeMeasurement(
        backend="llamacpp",
        device="cpu",
        threads=2,
        prompt_tokens=512,
        gen_tokens=128,
        samples={
            "prompt_tokens_per_s": (100.0, 110.0),
            "tokens_per_s": (10.0, 12.0),
            "ms_per_token": (100.0, 83.3),
            "latency_ms": (5120.0, 4654.5),
        },
        peak_memory_gb=None,  # not measured: no row, never a 0
        model_size_gb=0.5,
        memory_method="none",
    )
    profile = HardwareProfile(device="cuda", cpu="Some CPU", threads=2, gpu="H100", gpu_driver="550.1")
    rows = edge_rows("run-1", "v1", m, profile)
    assert rows.schema == EDGE.schema
    assert "peak_memory_gb" not in rows["metric"].to_list()
    tps = rows.filter(pl.col("metric") == "tokens_per_s").row(0, named=True)
    assert (tps["mean"], tps["repetitions"], tps["unit"]) == (11.0, 2, "tokens/s")
    assert tps["sd"] == pytest.approx(2**0.5)
    assert set(rows["hardware_profile"]) == {"cuda/H100/driver 550.1/Some CPU/2t"}


def test_local_profile_names_device_cpu_and_threads() -> None:
    profile = hardware_profile("cpu", 3)
    assert profile.name.startswith("cpu/") and profile.name.endswith("/3t")


def test_bad_sizes_are_refused(llama_lm) -> None:
    with pytest.raises(ValueError, match="repetitions"):
        measure_edge(llama_lm, repetitions=0)
    with pytest.raises(ValueError, match="do not fit"):
        measure_edge(llama_lm, prompt_tokens=10**6)
