"""The GPU path, proved in one run: the demo models and stories260K on CUDA through the real benchmark flow.

    python benchmarks/gpu_check.py                  # a CUDA machine: under 8 minutes on one H200
    python benchmarks/gpu_check.py --dry-run        # no GPU: every step but the CUDA ones, on the CPU
    python benchmarks/gpu_check.py --requirements   # what a GPU machine without network needs carried over
    python benchmarks/gpu_check.py --backend-only   # the slim check: the transformers backend alone, under
                                                    # 64 MiB carried (benchmarks/gpu_backend_check.py)

What it runs, each through ``flows.benchmark.benchmark_submission`` (Prefect, Ray actors, lm-eval, the
contracts), on the offline tasks of the reasoning and language categories:

1. the reference: every model in FP32 on the CPU (a local Ray offering no GPU);
2. on CUDA (Ray sees the GPU; each actor takes it): the demo model in FP32, FP16 and BF16 on
   transformers, its F32 GGUF and ``stories260K.gguf`` on llama.cpp with ``n_gpu_layers=-1``, each
   with its edge unit (prompt and generation throughput, peak memory).

Then it prints, and checks:

- **per-sample log-likelihoods** against the CPU FP32 run, request by request. FP32: at most
  1e-4 nats apart (the issue's bound). FP16 and BF16: at most ``K x u`` nats per continuation
  token, ``u`` the format's unit roundoff (2^-11 for FP16, 2^-8 for BF16) and ``K = 64``. Why that
  bound: a token's log-probability is ``z_y - logsumexp(z)``; rounding the logits alone moves it
  by up to ``2 u max|z|`` (and these models' logits stay within a few units); rounding the
  weights and activations of every layer adds errors of the same order that partly cancel.
  ``K = 64`` is about 3.5x the worst this script measured on the CPU (``--dry-run --limit 4``:
  FP16 up to 38 ``u`` and BF16 up to 37 ``u`` on a request, about 18-19 ``u`` per continuation
  token on the demo model; ``K = 16`` failed BF16 at 1.13 of its bound). A CUDA run far beyond
  it means a broken kernel, not rounding. The bound grows with the
  continuation's length because each token's error adds to the sum. The share of documents whose
  chosen answer changed is printed beside it.
- **tokens/s against the FLOP bound**: the edge unit's prompt processing rate (tokens/s over
  a 512-token prompt, a forward pass over many tokens at once, the compute-bound regime) against
  ``peak / (2 x parameters)``, the rate at which 2 FLOPs per parameter per token would take the
  GPU's whole peak. The peak is measured here, by a dense matrix product in the variant's dtype
  (never a figure typed in from a data sheet); parameters are counted from the weight files
  (embeddings included, as the bound is stated). Tiny models stay far below the bound: kernel
  launches, not arithmetic, pace them; the ratio says how far.
- **peak GPU memory**: from torch (``torch.cuda.max_memory_allocated`` in the actor, which the edge
  unit records for transformers) and from NVML (the device's used memory, sampled by this process
  every 50 ms over each CUDA run, minus what was used before it; and NVML's per-process figure
  that the edge unit records for llama.cpp).

It exits 1 when a comparison is out of its bound, 2 when something it needs is missing.

**On a GPU machine without network** (Python 3.12, torch and transformers installed, no project
venv), carry over this checkout, the demo fixtures (``.slmbench/fixtures``, or let the script build
them: about a minute), ``stories260K.gguf`` (``--stories`` or ``SLMBENCH_SHARED_MODELS``), and a
folder of wheels for Python 3.12 made where there is network (``--requirements`` prints the
commands): every pinned dependency of pyproject.toml but torch and transformers, and
llama-cpp-python built with CUDA. Then ``pip install --no-index --find-links wheels ...`` and run
it from the checkout. The script checks all of that first and names what is missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Installed on the GPU machines already; every other dependency travels as a wheel.
PREINSTALLED = ("torch", "transformers")
FP32_TOLERANCE = 1e-4
UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8}
K_PER_TOKEN = 64
CATEGORIES = ["reasoning", "language"]
BUDGET_S = 8 * 60


@dataclass(frozen=True)
class Model:
    """One submission the check runs: a name, where its weights are, and its quantizations."""

    name: str
    local_path: str
    gguf: bool  # True: one GGUF F32 file on llama.cpp; False: an HF folder in FP32/FP16/BF16 on transformers

    def submission(self, quantizations: list[str], edge: bool) -> str:
        fmt = "gguf" if self.gguf else "safetensors"
        quants = "".join(f'    - name: "{q}"\n      format: "{fmt}"\n' for q in quantizations)
        categories = json.dumps(CATEGORIES + (["edge"] if edge else []))
        return (
            f'model:\n  name: "{self.name}"\n  local_path: "{self.local_path}"\n  parameters: "1M"\n'
            f"  test_model: true\n  quantizations:\n{quants}  categories: {categories}\n"
        )


# ---------------------------------------------------------------- what the machine needs


def pinned_requirements() -> list[str]:
    """pyproject.toml's dependencies, as pinned there."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def missing_requirements(dry_run: bool) -> list[str]:
    """Every problem that would stop the check, each with its fix; empty when it can run."""
    problems = []
    for requirement in pinned_requirements():
        name, _, pin = requirement.partition("==")
        name = name.split("[")[0]  # ray[client] is the distribution ray
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed (carry its wheel: --requirements)")
            continue
        if pin and name not in PREINSTALLED and have.split("+")[0] != pin:
            problems.append(f"{name}: {have} installed, the project pins {pin}")
    if dry_run:
        return problems
    try:
        import torch

        if not torch.cuda.is_available():
            problems.append("torch: no CUDA device visible (torch.cuda.is_available() is False)")
    except ImportError:
        pass
    try:
        import llama_cpp

        if not llama_cpp.llama_supports_gpu_offload():
            problems.append("llama-cpp-python: built without GPU offload; build it with CMAKE_ARGS=-DGGML_CUDA=on")
    except ImportError:
        pass
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # any NVML failure: the driver's library is missing or refuses
        problems.append(f"NVML: {type(exc).__name__}: {exc} (nvidia-ml-py needs the NVIDIA driver's libnvidia-ml)")
    return problems


# Left out of the wheels: the GPU machine's own torch (and its CUDA libraries) and transformers,
# and llama-cpp-python, which must be built with CUDA.
NOT_CARRIED = "^(torch|transformers|llama[-_]cpp[-_]python)=="


def requirements_text() -> str:
    llama = next(r for r in pinned_requirements() if r.startswith("llama-cpp-python"))
    return f"""# Where there is network, on Linux x86_64 with Python 3.12 (the GPU machine's), from this checkout:
grep -v -E '{NOT_CARRIED}' requirements.lock > gpu-wheels.txt   # every pinned package, dependencies included
python3.12 -m pip wheel --no-deps --wheel-dir wheels -r gpu-wheels.txt
# llama-cpp-python is published as source only: build it with CUDA where nvcc is (the CUDA
# major version the GPU machine's driver runs), into the same folder:
CMAKE_ARGS="-DGGML_CUDA=on" python3.12 -m pip wheel --no-deps --wheel-dir wheels "{llama}"

# Carry: this checkout, wheels/, gpu-wheels.txt, .slmbench/fixtures/ (or let the script build
# them, about a minute) and stories260K.gguf. On the GPU machine, from the checkout:
python3.12 -m pip install --no-index --no-deps --find-links wheels -r gpu-wheels.txt "{llama}"
python3.12 benchmarks/gpu_check.py --stories /path/to/stories260K.gguf
# (the wheels come to hundreds of MB: ray's alone is tens of MB)
"""


# ---------------------------------------------------------------- measuring


class NvmlSampler:
    """The device's used memory, every 50 ms, while a CUDA run goes on; the peak above the baseline."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._pynvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.name = pynvml.nvmlDeviceGetName(self._handle)

    def _used(self) -> int:
        return int(self._pynvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    @contextmanager
    def peak(self) -> Iterator[dict[str, int]]:
        box = {"baseline": self._used(), "peak": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                box["peak"] = max(box["peak"], self._used())

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield box
        finally:
            stop.set()
            thread.join()


def matmul_peak_flops(device: str, dtype: str) -> float:
    """FLOP/s of a dense matrix product in ``dtype`` on ``device``: the best of a few timed runs."""
    import torch

    torch_dtype = getattr(torch, dtype)
    size = 8192 if device == "cuda" else 1024
    a = torch.randn(size, size, device=device, dtype=torch_dtype)
    b = torch.randn(size, size, device=device, dtype=torch_dtype)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # FP32 means FP32 here, as in llama.cpp's F32 weights
    best = float("inf")
    for _ in range(5):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(10):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - started) / 10)
    return 2 * size**3 / best


def parameter_count(path: Path) -> int:
    """Parameters in the weight files: every tensor's elements (safetensors headers, or the GGUF header)."""
    if path.suffix == ".gguf":
        from evals.models.gguf_files import inspect_gguf

        total = 0
        for tensor in inspect_gguf(path).tensors:
            count = 1
            for dim in tensor.shape:
                count *= dim
            total += count
        return total
    from safetensors import safe_open

    total = 0
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                count = 1
                for dim in handle.get_slice(key).get_shape():
                    count *= dim
                total += count
    return total


# ---------------------------------------------------------------- reading the runs


def request_loglikelihoods(unit: Path) -> dict[tuple[int, int], tuple[float, str]]:
    """(doc id, request index) -> (log-likelihood, continuation text) from a unit's samples."""
    out: dict[tuple[int, int], tuple[float, str]] = {}
    for line in (unit / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        for i, (arguments, response) in enumerate(zip(sample["arguments"], sample["resps"], strict=True)):
            value = response[0][0] if isinstance(response[0], list) else response[0]
            continuation = _continuation(arguments)
            out[(int(sample["doc_id"]), i)] = (float(value), continuation)
    return out


def _continuation(arguments: Any) -> str:
    if isinstance(arguments, dict):  # newer lm-eval logs arguments as {"gen_args_0": {"arg_0": ..., "arg_1": ...}}
        arguments = list(arguments.values())
        arguments = list(arguments[0].values()) if arguments and isinstance(arguments[0], dict) else arguments
    return str(arguments[1]) if len(arguments) > 1 else ""


def chosen_answers(unit: Path) -> dict[int, int]:
    """doc id -> the index of the choice with the highest log-likelihood."""
    answers = {}
    for line in (unit / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        values = [r[0][0] if isinstance(r[0], list) else r[0] for r in sample["resps"]]
        answers[int(sample["doc_id"])] = max(range(len(values)), key=values.__getitem__)
    return answers


def edge_figures(run: Path) -> dict[str, dict[str, float]]:
    """variant id -> edge metric -> mean, from the run's edge.parquet."""
    import polars as pl

    path = run / "edge.parquet"
    if not path.exists():
        return {}
    figures: dict[str, dict[str, float]] = {}
    for row in pl.read_parquet(path).iter_rows(named=True):
        figures.setdefault(row["variant_id"], {})[row["metric"]] = row["mean"]
    return figures


# ---------------------------------------------------------------- the check


@dataclass
class RunDone:
    label: str
    folder: Path
    seconds: float
    nvml: dict[str, int] | None = None


class Check:
    def __init__(self, work: Path, limit: int, dry_run: bool, stories: Path | None) -> None:
        self.work, self.limit, self.dry_run = work, limit, dry_run
        self.device = "cpu" if dry_run else "cuda"
        self.failures: list[str] = []
        self.sampler = None if dry_run else NvmlSampler()
        self.models = [
            Model("SLMB-Demo-Trained", "fixture://demo-trained", gguf=False),
            Model("SLMB-Demo-Trained-GGUF", "fixture://demo-trained", gguf=True),
        ]
        if stories is not None:
            self.models.append(Model("stories260K", str(stories), gguf=True))

    def run(self, label: str, model: Model, quantizations: list[str], *, gpu: bool, edge: bool) -> RunDone:
        """One benchmark flow run of ``model``: its own folder and cache (the cache key does not hold the device)."""
        import ray

        from evals.cluster.pool import ensure_ray
        from flows.benchmark import benchmark_submission

        folder = self.work / label
        folder.mkdir(parents=True)
        submission = folder / "submission.yaml"
        submission.write_text(model.submission(quantizations, edge))
        os.environ["SLMBENCH_CACHE_DIR"] = str(folder / "cache")
        if ray.is_initialized():
            ray.shutdown()
        ensure_ray(num_gpus=None if gpu else 0)
        started = time.perf_counter()
        with self.sampler.peak() if gpu and self.sampler else _nothing() as nvml:
            benchmark_submission(
                submission_path=str(submission),
                suite="offline",
                limit=self.limit,
                output_dir=str(folder / "run"),
                warehouse=str(folder / "warehouse"),
            )
        done = RunDone(label, folder / "run", time.perf_counter() - started, nvml)
        print(f"  {label}: {done.seconds:.0f} s ({time.perf_counter() - T0:.0f} s so far)", flush=True)
        return done

    def compare(self, reference: RunDone, target: RunDone, variant: str, dtype: str, tokenizer: Any) -> None:
        """Every request of every unit of ``variant`` in ``target`` against the FP32 variant in ``reference``."""
        ref_variant = re.sub(r"--(FP16|BF16)$", "--FP32", variant)
        worst, worst_ratio, changed, documents = 0.0, 0.0, 0, 0
        units = sorted((target.folder / "units" / variant).iterdir())
        for unit in units:
            ref_unit = reference.folder / "units" / ref_variant / unit.name
            ours, theirs = request_loglikelihoods(unit), request_loglikelihoods(ref_unit)
            assert ours.keys() == theirs.keys(), f"{unit}: not the same requests as the reference"
            for key, (value, continuation) in ours.items():
                delta = abs(value - theirs[key][0])
                bound = self._bound(dtype, continuation, tokenizer)
                worst = max(worst, delta)
                worst_ratio = max(worst_ratio, delta / bound)
            a, b = chosen_answers(unit), chosen_answers(ref_unit)
            changed += sum(a[d] != b[d] for d in a)
            documents += len(a)
        ok = worst_ratio <= 1.0
        unit_roundoff = UNIT_ROUNDOFF.get(dtype)
        per_u = f", {worst / unit_roundoff:.1f} u" if unit_roundoff else ""
        print(
            f"  {variant:<36} {dtype:<9} max |dLL| {worst:.2e} nats{per_u}, {worst_ratio:.2f} of its bound; "
            f"answers changed {changed}/{documents} -> {'OK' if ok else 'OUT OF BOUND'}"
        )
        if not ok:
            self.failures.append(f"{variant} ({dtype}) differs from CPU FP32 beyond its bound")

    def _bound(self, dtype: str, continuation: str, tokenizer: Any) -> float:
        if dtype not in UNIT_ROUNDOFF:
            return FP32_TOLERANCE
        tokens = max(1, len(tokenizer(continuation, add_special_tokens=False)["input_ids"])) if tokenizer else 1
        return K_PER_TOKEN * UNIT_ROUNDOFF[dtype] * tokens

    def throughput(self, run: RunDone, weights: dict[str, Path], dtypes: dict[str, str]) -> None:
        """Prompt tokens/s of each variant against 2 x parameters x tokens at the measured peak; peak memory."""
        for variant, figures in sorted(edge_figures(run.folder).items()):
            dtype = dtypes[variant]
            params = parameter_count(weights[variant])
            peak = matmul_peak_flops(self.device, dtype)
            bound = peak / (2 * params)
            rate = figures.get("prompt_tokens_per_s")
            ratio = f"{rate / bound:.2e}" if rate else "not measured"
            memory = figures.get("peak_memory_gb")
            print(
                f"  {variant:<36} {params / 1e6:6.2f}M params, {dtype:<8} peak {peak / 1e12:8.2f} TFLOP/s "
                f"-> bound {bound:,.0f} tok/s; prompt {rate or float('nan'):,.0f} tok/s, ratio {ratio}; "
                f"decode {figures.get('tokens_per_s', float('nan')):,.0f} tok/s; "
                f"peak memory (edge unit) {memory if memory is not None else 'not measured'} GB"
            )
        if run.nvml is not None:
            used = (run.nvml["peak"] - run.nvml["baseline"]) / 1e9
            print(
                f"  NVML, device memory used over the run: peak {used:.3f} GB above the {run.nvml['baseline'] / 1e9:.3f} GB before it"
            )


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


T0 = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="no GPU: run every step on the CPU")
    parser.add_argument("--requirements", action="store_true", help="print what a GPU machine must be given")
    parser.add_argument("--stories", type=Path, default=None, help="stories260K.gguf (default: the shared models)")
    parser.add_argument("--limit", type=int, default=50, help="documents per task (default 50)")
    parser.add_argument(
        "--backend-only",
        action="store_true",
        help="the slim check: the transformers backend on CUDA, no Ray/Prefect/warehouse (gpu_backend_check.py)",
    )
    parser.add_argument("--make-reference", action="store_true", help="with --backend-only: the CPU FP32 records")
    args = parser.parse_args(argv)
    if args.backend_only:
        sys.path.insert(0, str(ROOT))
        from benchmarks import gpu_backend_check

        return gpu_backend_check.main(args)
    if args.requirements:
        print(requirements_text())
        return 0
    sys.path.insert(0, str(ROOT))
    problems = missing_requirements(args.dry_run)
    if problems:
        print("gpu_check cannot run here:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        print("\nWhat to carry and install: python benchmarks/gpu_check.py --requirements", file=sys.stderr)
        return 2
    from flows import settings

    settings.apply_defaults()
    from evals import paths
    from evals.models.fixtures import build_all

    stories = args.stories or paths.shared_models_dir() / "stories260K.gguf"
    if not stories.is_file():
        print(f"stories260K.gguf not found at {stories}: give --stories (it is left out)", file=sys.stderr)
    mode = (
        "DRY RUN on the CPU: the CUDA parts (device placement, NVML, torch.cuda memory) are NOT exercised"
        if args.dry_run
        else "CUDA"
    )
    print(f"gpu_check: {mode}; limit {args.limit} documents per task", flush=True)
    fixtures = build_all()
    hf_dir = Path(fixtures["demo-trained"].hf_dir)
    demo_gguf = Path(fixtures["demo-trained"].gguf["F32"])
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        check = Check(Path(tmp), args.limit, args.dry_run, stories.resolve() if stories.is_file() else None)
        hf, hf_gguf, *rest = check.models
        print("runs:", flush=True)
        reference = {m.name: check.run(f"cpu-fp32-{m.name}", m, ["FP32"], gpu=False, edge=False) for m in check.models}
        target = {
            hf.name: check.run(f"{check.device}-{hf.name}", hf, ["FP32", "FP16", "BF16"], gpu=True, edge=True),
            **{
                m.name: check.run(f"{check.device}-{m.name}", m, ["FP32"], gpu=True, edge=True)
                for m in [hf_gguf, *rest]
            },
        }
        print("\nper-sample log-likelihoods against CPU FP32 "
              f"(FP32: {FP32_TOLERANCE:g} nats; FP16/BF16: {K_PER_TOKEN} u per continuation token):")  # fmt: skip
        tokenizer = _tokenizer(str(hf_dir))
        for dtype, quant in (("float32", "FP32"), ("float16", "FP16"), ("bfloat16", "BF16")):
            check.compare(reference[hf.name], target[hf.name], f"slmb-demo-trained--{quant}", dtype, tokenizer)
        for model in [hf_gguf, *rest]:
            variant = f"{model.name.lower()}--FP32"
            check.compare(reference[model.name], target[model.name], variant, "float32", None)
        print("\nthroughput against the FLOP bound, and memory:")
        for model in check.models:
            weights = (
                {f"slmb-demo-trained--{q}": hf_dir for q in ("FP32", "FP16", "BF16")}
                if not model.gguf
                else {f"{model.name.lower()}--FP32": Path(demo_gguf if "Demo" in model.name else stories)}
            )
            dtypes = {v: {"FP16": "float16", "BF16": "bfloat16"}.get(v.rsplit("--", 1)[1], "float32") for v in weights}
            check.throughput(target[model.name], weights, dtypes)
    elapsed = time.perf_counter() - T0
    print(f"\ntotal {elapsed:.0f} s ({'within' if elapsed <= BUDGET_S else 'OVER'} the {BUDGET_S // 60}-minute budget)")
    if args.dry_run:
        print("DRY RUN: every comparison above ran CPU against CPU; run it on a GPU machine to prove the CUDA path.")
    if check.failures:
        print("FAILED:\n" + "\n".join(f"  - {f}" for f in check.failures))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
