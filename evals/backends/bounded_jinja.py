"""Jinja templates from untrusted sources, rendered with bounds on time and size.

A chat template is code from the submitter. Jinja's sandbox (here transformers' own
environment, copied with its filters, globals and extensions) blocks attribute tricks, but
not work: nested loops run for ever, ``'x' * 300000000`` builds 300 MB. :func:`render`
adds the bounds:

- **Size.** No value may grow past ``max_chars`` characters, checked *before* a string is
  built where the size is known in advance: the ``*``, ``**`` and ``%`` operators (routed
  through the sandbox's ``call_binop``: Jinja does so for the operators an environment lists
  at compile time, which also stops it folding ``'x' * 300000000`` into a constant while
  compiling), a width or count argument to any call or filter (``center(n)``, ``ljust(n)``),
  a format width (``'%0300000000d' % 1``, ``'{:>300000000}'.format(1)``). What is built
  otherwise is sized once built: results of ``+``, calls, filters and ``~`` (Jinja compiles it
  to a join, wrapped here by the code generator), and the output as it is generated.
- **Time.** A watchdog thread raises :class:`RenderTimedOut` in a thread still rendering at
  its deadline (CPython's ``PyThreadState_SetAsyncExc``): the exception lands at the next
  bytecode, so a loop without calls or output stops too, and a render that keeps to its time
  pays nothing per line (a trace function made one prompt 7x slower).
"""

from __future__ import annotations

import ctypes
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment

# A width in a format string: %-style (``%08d``) or str.format (``{:>8}``), as written.
_PERCENT_WIDTH = re.compile(r"%[-#0 +]*(\d+)")
_BRACE_WIDTH = re.compile(r"\{[^{}]*:[^{}\d]*(\d+)")
MAX_EXPONENT = 4096


class TemplateLimit(RuntimeError):
    """A template went past a bound. Not a ``jinja2.TemplateError``: a caller that retries a
    template which refused its input (lm-eval drops the system turn) must not retry this."""


class RenderTimedOut(TemplateLimit):
    def __init__(self, message: str = "the chat template ran past its time limit on one prompt") -> None:
        super().__init__(message)


@functools.lru_cache(maxsize=16)
def compile_bounded(source: str, max_chars: int) -> Any:
    """``source`` compiled in a copy of transformers' chat-template environment that checks sizes."""
    from transformers.utils.chat_template_utils import _compile_jinja_template

    # transformers' environment, from an empty template: compiling the submitter's own there would
    # fold its constants (``'x' * 300000000``) before any bound applies
    reference = _compile_jinja_template("").environment
    environment = _BoundedEnvironment(
        max_chars,
        trim_blocks=reference.trim_blocks,
        lstrip_blocks=reference.lstrip_blocks,
        extensions=[type(extension) for extension in reference.extensions.values()],
    )
    environment.filters = {name: environment.bounded_filter(f) for name, f in reference.filters.items()}
    environment.globals.update(reference.globals)
    return environment.from_string(source)


def render(template: Any, variables: dict[str, Any], timeout_s: float) -> str:
    """The template's output under a deadline and its environment's size cap."""
    environment: _BoundedEnvironment = template.environment
    parts: list[str] = []
    size = 0
    with _watchdog().limit(timeout_s):
        for chunk in _generate(template, variables):
            size += len(chunk)
            environment.check_size(size)
            parts.append(chunk)
    return "".join(parts)


def _generate(template: Any, variables: dict[str, Any]) -> Iterator[str]:
    return template.generate(**variables)


class _SizedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``a ~ b`` (a join in the compiled code) passed through the size check."""

    def visit_Concat(self, node: Any, frame: Any) -> None:
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class _BoundedEnvironment(ImmutableSandboxedEnvironment):  # type: ignore[misc]
    code_generator_class = _SizedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, max_chars: int, **options: Any) -> None:
        self.max_chars = max_chars
        super().__init__(**options)

    def check_size(self, size: int) -> None:
        if size > self.max_chars:
            raise TemplateLimit(f"the chat template built more than {self.max_chars:,} characters for one prompt")

    def sized(self, value: Any) -> Any:
        if isinstance(value, str | bytes | list | tuple | dict):
            self.check_size(len(value))
        return value

    def _no_huge_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A width or count past the cap (``center(n)``, ``ljust(n)``, ``indent(n)``) is refused before the call."""
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > self.max_chars:
                raise TemplateLimit(f"the chat template passed {value:,} to a call; at most {self.max_chars:,}")

    def _no_huge_widths(self, text: str, pattern: re.Pattern[str]) -> None:
        for width in pattern.findall(text):
            self.check_size(int(width))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    self.check_size(len(sequence) * max(count, 0))
        elif operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise TemplateLimit(f"the chat template raised a number to the power {right:,}; at most {MAX_EXPONENT:,}")
        elif operator == "%" and isinstance(left, str):
            self._no_huge_widths(left, _PERCENT_WIDTH)
        return self.sized(super().call_binop(context, operator, left, right))

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        self._no_huge_arguments(args, kwargs)
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and getattr(obj, "__name__", "") in ("format", "format_map"):
            self._no_huge_widths(owner, _BRACE_WIDTH)
        return self.sized(super().call(context, obj, *args, **kwargs))

    def bounded_filter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """A filter with its arguments and result checked (``functools.wraps`` keeps Jinja's pass_context marks)."""

        @functools.wraps(function)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            self._no_huge_arguments(args, kwargs)
            if function.__name__ == "do_format" and args and isinstance(args[0], str):  # "%08d"|format(x)
                self._no_huge_widths(args[0], _PERCENT_WIDTH)
            return self.sized(function(*args, **kwargs))

        return bounded


class _Watchdog:
    """One daemon thread that raises :class:`RenderTimedOut` in any thread still rendering at its deadline."""

    TICK_S = 0.05

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}
        self._fired: set[int] = set()
        self._thread: threading.Thread | None = None

    @contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        me = threading.get_ident()
        with self._lock:
            if me in self._fired:  # an earlier limit fired as its render ended: not for this one
                self._fired.discard(me)
                _raise_in(me, None)
            self._deadlines[me] = time.monotonic() + seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="template-watchdog", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._deadlines.pop(me, None)
                if me in self._fired:  # fired, not yet raised: withdraw it, this render is over
                    self._fired.discard(me)
                    _raise_in(me, None)

    def _watch(self) -> None:
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            with self._lock:
                for thread, deadline in self._deadlines.items():
                    if now > deadline and thread not in self._fired:
                        self._fired.add(thread)
                        _raise_in(thread, RenderTimedOut)


def _raise_in(thread: int, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in ``thread`` at its next bytecode (None, passed as NULL, withdraws a pending one)."""
    pending = None if exception is None else ctypes.py_object(exception)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), pending)


@functools.cache
def _watchdog() -> _Watchdog:
    return _Watchdog()
