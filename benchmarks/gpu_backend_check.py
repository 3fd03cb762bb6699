"""The slim GPU check: the transformers backend alone on CUDA, small enough to carry (``gpu_check.py --backend-only``).

    python benchmarks/gpu_check.py --backend-only --make-reference   # here, on the CPU: the bundle to carry
    python benchmarks/gpu_check.py --backend-only --requirements     # the exact `pip download` lines
    python benchmarks/gpu_check.py --backend-only --dry-run          # every step on the CPU, sizes printed
    python benchmarks/gpu_check.py --backend-only                    # on the GPU machine

The GPU machine lent to us has no network and Python 3.12, torch, transformers, accelerate,
pyarrow, pandas and numpy; everything else travels with the checkout, 64 MiB in all. The full
check (Prefect, Ray, the warehouse) needs hundreds of MB of wheels; this one needs lm-eval's
``LM`` and our backend, and never imports Ray, Prefect, polars or deltalake.

- ``--make-reference`` (CPU): the requests of the offline pack's multiple-choice tasks, built
  by lm-eval's own task code, and their CPU FP32 log-likelihoods on the demo model and on
  stories260K (loaded from GGUF by transformers), written to ``.gpu-check/reference.json``
  beside copies of both models' weights. The GPU side builds no task (no datasets needed).
- on CUDA: the demo model in FP32, FP16 and BF16 and stories260K in FP32, shared-prefix
  scoring with ``batch_size="auto"``; every request against its CPU FP32 record with the
  tolerances ``gpu_check.py`` documents (FP32: 1e-4 nats; FP16/BF16: 64 u per continuation
  token); shared-prefix against plain HFLM on the GPU (FP32: the same 1e-4, identical answers);
  tokens/s against the FLOP bound ``peak / (2 x parameters)`` from a measured matmul peak.
- ``--dry-run``: the same on the CPU (batch size 8, as ``auto`` is for CUDA), then the size of
  what travels: the checkout's tracked files, the bundle and the wheels in ``.whl/``.

Exit 1 when a comparison is out of its bound, 2 when something it needs is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.gpu_check import matmul_peak_flops  # stdlib-only at import: the slim path stays slim

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / ".gpu-check"
WHEELS = ROOT / ".whl"
LIMIT_MIB = 64
TASKS = ("slmb_hellaswag", "slmb_truthful", "slmb_winogrande", "slmb_story", "slmb_yesno")
LIMIT = 40  # documents per task
FP32_TOLERANCE = 1e-4
UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8}
K_PER_TOKEN = 64
# On the GPU machine already, with what they pull in; nothing of these travels.
PREINSTALLED = ("torch", "transformers", "accelerate", "pyarrow", "pandas", "numpy")
# lm-eval's own packages, carried whether or not the backend path imports them (the list),
# and pydantic, which BackendSpec is, in case the GPU machine's packages lack it.
CARRIED = ("lm_eval", "datasets", "evaluate", "pydantic", "pydantic_core", "annotated_types", "typing_inspection")
IMPORTED = BUNDLE / "imported.json"  # the distributions the last dry run imported (--requirements reads it)
HEAVY = ("ray", "prefect", "polars", "deltalake")
# Imported here only because installed: transformers' losses use scipy when it is there (is_scipy_available).
OPTIONAL = ("scipy",)


# ---------------------------------------------------------------- what travels


def _dist_name(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _requires(dist: str) -> list[str]:
    """The distributions ``dist`` needs unconditionally (no extras), by normalized name."""
    import importlib.metadata as md
    import re

    try:
        requires = md.requires(dist) or []
    except md.PackageNotFoundError:
        return []
    return [_dist_name(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]) for r in requires if "extra ==" not in r]


def _closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [_dist_name(r) for r in roots]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _requires(name)
    return seen


def carried_distributions(imported: set[str]) -> dict[str, str]:
    """name -> version of every distribution to carry: what the backend path imported (its wheels are installed
    with --no-deps, so only what is imported counts) and lm-eval's three, less what the GPU machine has (its
    packages and their dependencies)."""
    import importlib.metadata as md

    have = _closure(list(PREINSTALLED))
    out = {}
    for name in sorted((imported - have - {"slmbench", *OPTIONAL}) | {_dist_name(c) for c in CARRIED}):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def imported_distributions() -> set[str]:
    import importlib.metadata as md

    dists = md.packages_distributions()
    top = {m.split(".")[0] for m in sys.modules}
    return {_dist_name(d) for t in top for d in dists.get(t, [])}


def download_lines(carried: dict[str, str]) -> list[str]:
    common = (
        "python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "
        f"--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d {WHEELS.name}"
    )
    return [f"{common} {name}=={version}" for name, version in carried.items()]


def tracked_bytes() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / f.decode()).stat().st_size for f in files if f and (ROOT / f.decode()).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


# ---------------------------------------------------------------- the reference, made on the CPU


def make_reference(demo_hf: Path, stories: Path) -> Path:
    """``.gpu-check/``: the pack's requests, their CPU FP32 log-likelihoods, and both models' weights."""
    from lm_eval.tasks import TaskManager, get_task_dict

    from evals.backends import BackendSpec, load_backend
    from evals.catalog.pack import build_pack

    manager = TaskManager(include_path=[str(build_pack())], include_defaults=False)
    requests = []
    for name, task in sorted(get_task_dict(list(TASKS), manager).items()):
        task.build_all_requests(limit=LIMIT, rank=0, world_size=1)
        requests += [
            {"task": name, "doc_id": r.doc_id, "idx": r.idx, "context": r.args[0], "continuation": r.args[1]}
            for r in task.instances
        ]
    if BUNDLE.exists():
        shutil.rmtree(BUNDLE)
    (BUNDLE / "models").mkdir(parents=True)
    shutil.copytree(demo_hf, BUNDLE / "models" / "demo-trained")
    shutil.copy(stories, BUNDLE / "models" / "stories260K.gguf")
    models = {"demo-trained": "models/demo-trained", "stories260K": "models/stories260K.gguf"}
    records: dict[str, Any] = {"tasks": list(TASKS), "limit": LIMIT, "requests": requests, "models": {}}
    for model, rel in models.items():
        lm = load_backend(BackendSpec(backend="transformers", path=BUNDLE / rel, scorer="hflm", n_threads=2))
        scores = lm.loglikelihood(_instances(requests), disable_tqdm=True)
        tokens = [len(lm.tok_encode(r["continuation"], add_special_tokens=False)) for r in requests]
        records["models"][model] = {"path": rel, "cpu_fp32": [s for s, _ in scores], "continuation_tokens": tokens}
    (BUNDLE / "reference.json").write_text(json.dumps(records))
    return BUNDLE


def _instances(requests: list[dict[str, Any]]) -> list[Any]:
    from lm_eval.api.instance import Instance

    return [
        Instance("loglikelihood", {}, (r["context"], r["continuation"]), r["idx"], (r["task"], r["doc_id"], 1))
        for r in requests
    ]


# ---------------------------------------------------------------- the check


def _answers(requests: list[dict[str, Any]], values: list[float]) -> dict[tuple[str, int], int]:
    by_doc: dict[tuple[str, int], list[float]] = {}
    for r, v in zip(requests, values, strict=True):
        by_doc.setdefault((r["task"], r["doc_id"]), []).append(v)
    return {k: max(range(len(v)), key=v.__getitem__) for k, v in by_doc.items()}


def run_check(dry_run: bool) -> int:
    import torch

    from evals.backends import BackendSpec, load_backend

    if not (BUNDLE / "reference.json").is_file():
        print(
            f"no {BUNDLE / 'reference.json'}: make it where lm-eval's tasks build (--make-reference)", file=sys.stderr
        )
        return 2
    device = "cpu" if dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("torch: no CUDA device visible; use --dry-run on a CPU machine", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False  # FP32 means FP32, as the CPU reference is
    reference = json.loads((BUNDLE / "reference.json").read_text())
    requests = reference["requests"]
    instances = _instances(requests)
    batch: int | str = 8 if dry_run else "auto"
    failures: list[str] = []
    started_all = time.perf_counter()
    print(f"backend-only check on {device}{' (DRY RUN: CPU against CPU)' if dry_run else ''}: "
          f"{len(requests)} requests of {', '.join(reference['tasks'])}, batch size {batch}")  # fmt: skip
    peaks: dict[str, float] = {}
    for model, dtypes in (("demo-trained", ("float32", "float16", "bfloat16")), ("stories260K", ("float32",))):
        record = reference["models"][model]
        path = BUNDLE / record["path"]
        cpu = record["cpu_fp32"]
        for dtype in dtypes:
            spec = BackendSpec(backend="transformers", path=path, dtype=dtype, device=device, batch_size=batch)
            lm = load_backend(spec)
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            ours = lm.loglikelihood(instances, disable_tqdm=True)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            values = [v for v, _ in ours]
            worst_ratio, worst = 0.0, 0.0
            for value, ref, tokens in zip(values, cpu, record["continuation_tokens"], strict=True):
                bound = FP32_TOLERANCE if dtype == "float32" else K_PER_TOKEN * UNIT_ROUNDOFF[dtype] * max(1, tokens)
                worst, worst_ratio = max(worst, abs(value - ref)), max(worst_ratio, abs(value - ref) / bound)
            a, b = _answers(requests, values), _answers(requests, cpu)
            changed = sum(a[k] != b[k] for k in a)
            ok = worst_ratio <= 1.0 and (dtype != "float32" or changed == 0)
            print(f"  {model:<13}{dtype:<9} vs CPU FP32: max |dLL| {worst:.2e}, {worst_ratio:.2f} of its bound, "
                  f"answers changed {changed}/{len(a)} -> {'OK' if ok else 'OUT OF BOUND'}")  # fmt: skip
            if not ok:
                failures.append(f"{model} {dtype} vs CPU FP32")
            counts, scorer = lm.scorer.counts, lm.scorer
            if dtype not in peaks:
                peaks[dtype] = matmul_peak_flops(device, dtype)
            params = sum(p.numel() for p in lm.model.parameters())
            bound_rate = peaks[dtype] / (2 * params)
            rate = counts.computed / seconds
            print(f"    shared-prefix: {seconds:.2f} s, {counts.computed} tokens ({counts.ratio:.2f} of HFLM's "
                  f"{counts.hflm}), batch size {scorer.largest_batch_used}, up to {scorer.most_rows} rows a pass; {rate:,.0f} tok/s against the "
                  f"FLOP bound {bound_rate:,.0f} tok/s ({params / 1e6:.2f}M params, peak "
                  f"{peaks[dtype] / 1e12:.2f} TFLOP/s): {rate / bound_rate:.2e} of it")  # fmt: skip
            if dtype == "float32":
                hflm = load_backend(spec.model_copy(update={"scorer": "hflm", "batch_size": 8 if dry_run else 64}))
                started = time.perf_counter()
                plain = [v for v, _ in hflm.loglikelihood(instances, disable_tqdm=True)]
                hflm_s = time.perf_counter() - started
                gap = max(abs(x - y) for x, y in zip(values, plain, strict=True))
                same = _answers(requests, values) == _answers(requests, plain)
                ok = gap <= FP32_TOLERANCE and same
                print(f"    against plain HFLM on {device}: max |dLL| {gap:.2e}, answers "
                      f"{'identical' if same else 'DIFFER'}; HFLM {hflm_s:.2f} s -> {'OK' if ok else 'OUT OF BOUND'}")  # fmt: skip
                if not ok:
                    failures.append(f"{model} shared-prefix vs HFLM on {device}")
                del hflm
            del lm
            if device == "cuda":
                torch.cuda.empty_cache()
    IMPORTED.write_text(json.dumps(sorted(imported_distributions())))
    heavy = [m for m in HEAVY if m in sys.modules]
    print(f"modules never imported: {', '.join(HEAVY)}" if not heavy else f"IMPORTED: {', '.join(heavy)}")
    if heavy:
        failures.append(f"the backend-only path imported {', '.join(heavy)}")
    elapsed = time.perf_counter() - started_all
    print(f"total {elapsed:.0f} s ({'within' if elapsed <= 300 else 'OVER'} the 5-minute budget)")
    if dry_run:
        failures += report_sizes()
    if failures:
        print("FAILED:\n" + "\n".join(f"  - {f}" for f in failures))
        return 1
    return 0


def report_sizes() -> list[str]:
    """Print what travels and its size; a failure when it is over 64 MiB or wheels are missing."""
    carried = carried_distributions(imported_distributions())
    wheels = sorted(WHEELS.glob("*.whl")) if WHEELS.exists() else []
    have = {_dist_name(w.name.split("-")[0]) for w in wheels}
    missing = [n for n in carried if n not in have]
    sizes = {"checkout (git ls-files)": tracked_bytes(), ".gpu-check/ (records + weights)": folder_bytes(BUNDLE)}
    sizes[f".whl/ ({len(wheels)} wheels)"] = sum(w.stat().st_size for w in wheels)
    print("what travels to the GPU machine:")
    for label, size in sizes.items():
        print(f"  {label:<36}{size / 2**20:8.2f} MiB")
    total = sum(sizes.values()) / 2**20
    print(f"  {'total':<36}{total:8.2f} MiB (limit {LIMIT_MIB} MiB)")
    print(f"  wheels: {', '.join(w.name for w in wheels) or 'none'}")
    problems = []
    if missing:
        problems.append(f"wheels missing from .whl/: {', '.join(missing)} (--requirements prints the downloads)")
    if total > LIMIT_MIB:
        problems.append(f"{total:.1f} MiB travels, over {LIMIT_MIB} MiB")
    return problems


def main(args: Any) -> int:
    sys.path.insert(0, str(ROOT))
    if args.requirements:
        if IMPORTED.is_file():  # what the dry run imported, models loaded
            imported = set(json.loads(IMPORTED.read_text()))
        else:  # before any dry run: what importing the backend brings in, and GGUF reading
            import gguf  # noqa: F401

            import evals.backends.transformers  # noqa: F401

            imported = imported_distributions()
        for line in download_lines(carried_distributions(imported)):
            print(line)
        print(f"# then: gpu_check.py --backend-only --make-reference; carry {WHEELS.name}/ and {BUNDLE.name}/ (both")
        print(
            "# git-ignored) with the checkout; on the GPU machine, from the checkout (nothing installed system-wide):"
        )
        print(f"python3 -m pip install --no-index --no-deps --target {WHEELS.name}/site {WHEELS.name}/*.whl")
        print(f"PYTHONPATH={WHEELS.name}/site:. python3 benchmarks/gpu_check.py --backend-only")
        return 0
    if args.make_reference:
        from evals import paths
        from evals.models.fixtures import build_all

        stories = args.stories or paths.shared_models_dir() / "stories260K.gguf"
        bundle = make_reference(Path(build_all()["demo-trained"].hf_dir), stories)
        print(f"reference records and weights in {bundle} ({folder_bytes(bundle) / 2**20:.2f} MiB)")
        return 0
    return run_check(args.dry_run)
