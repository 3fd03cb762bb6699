"""Run one benchmark step in a fresh interpreter, so its time and memory are its own."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from typing import Any


def in_fresh_process(target: Callable[..., None], *args: Any) -> Any:
    """Call ``target(*args, queue)`` in a new process; returns what it put on the queue."""
    # spawn, not fork: a forked child can deadlock once polars/deltalake are loaded.
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result
