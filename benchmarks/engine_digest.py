"""What the engine's code digest costs a process: ``python -m benchmarks.engine_digest``.

Every planning process, and every Ray worker once, computes ``evals.provenance.engine_digest``
(the unit cache key's code part). It reads the engine's Python by its syntax tree, so comments,
docstrings and formatting do not throw cached units away; this prints what that costs against
hashing the same files' bytes, measured in one run (the machine is shared: compare the ratio).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from pathlib import Path

from evals.provenance import REPO_ROOT, engine_sources, sandbox_sources, source_digest

REPEATS = 7


def _files(sources: tuple[str, ...]) -> list[Path]:
    found = []
    for relative in sources:
        path = REPO_ROOT / relative
        found += (
            sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
            if path.is_dir()
            else [path]
        )
    return found


def _bytes_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _median_ms(action) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


def main() -> None:
    closure_ms = _median_ms(lambda: engine_sources() + sandbox_sources())
    print(f"import closure (engine and sandbox sources found from their roots): {closure_ms:.0f} ms, once per process")
    engine = engine_sources()
    for label, sources in (("engine", engine), ("engine + sandbox", engine + sandbox_sources())):
        files = _files(sources)
        lines = sum(len(f.read_text(errors="replace").splitlines()) for f in files)
        ast_ms = _median_ms(lambda s=sources: source_digest(REPO_ROOT, s))
        bytes_ms = _median_ms(lambda f=files: _bytes_digest(f))
        print(
            f"{label}: {len(files)} files, {lines:,} lines; syntax-tree digest {ast_ms:.0f} ms, "
            f"bytes digest {bytes_ms:.1f} ms (x{ast_ms / bytes_ms:.0f}), once per process"
        )


if __name__ == "__main__":
    main()
