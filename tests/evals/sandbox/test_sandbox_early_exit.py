"""A program passes only when it reaches the end of its tests: every way of ending early fails.

Each hostile completion sits where a model's HumanEval completion goes; the
check after it fails unless ``add`` returns 5, and none of these bodies gets
that far. Exit status 0 alone never counts: the pass signal is the run's token
on a pipe of the harness's own, written after the program's last statement.
Each case runs with the audit hook and without it (the hook refuses os.kill,
so without it the signal routes are tried for real).
"""

from __future__ import annotations

import textwrap

import pytest

from evals.sandbox import run_python


def humaneval_program(body: str) -> str:
    """prompt + completion + test + check(entry_point), as the HumanEval task assembles it."""
    completion = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return (
        f'def add(a, b):\n    """Return a + b."""\n{completion}\n\n\n'
        "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n\ncheck(add)\n"
    )


EARLY_EXITS = {
    "raise_SystemExit": "raise SystemExit",
    "raise_SystemExit_0": "raise SystemExit(0)",
    "sys_exit_0": "import sys\nsys.exit(0)",
    "sys_exit_no_argument": "import sys\nsys.exit()",
    "exit_builtin": "exit()",
    "quit_builtin": "quit()",
    "os_exit_0": "import os\nos._exit(0)",
    "kill_itself_with_SIGKILL": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "kill_itself_with_SIGTERM": "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)",
    "SIGTERM_handler_that_exits_0": """
        import os, signal
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        os.kill(os.getpid(), signal.SIGTERM)
        import time
        time.sleep(3)
    """,
    "SIGALRM_handler_that_exits_0": """
        import os, signal, time
        signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        time.sleep(3)
    """,
    "close_stdout_and_stderr_then_exit_0": "import os, sys\nsys.stdout.close()\nos.close(1)\nos.close(2)\nos._exit(0)",
    "SystemExit_raised_in_finally": "try:\n    return 4\nfinally:\n    raise SystemExit",
    "close_every_inherited_fd_then_exit_0": "import os\nos.closerange(3, 1024)\nos._exit(0)",
    "atexit_hook_exits_0_after_a_failure": "import atexit, os\natexit.register(os._exit, 0)\nraise ValueError('wrong')",
    "thread_calls_os_exit_0": "import os, threading, time\nthreading.Thread(target=os._exit, args=(0,)).start()\ntime.sleep(3)",
    "excepthook_swallows_SystemExit": "import sys\nsys.excepthook = lambda *_: None\nraise SystemExit(0)",
    "replays_stdin_on_every_fd_then_exit_0": """
        import os
        data = os.read(0, 64) or b"0" * 32
        for fd in range(3, 64):
            try:
                os.write(fd, data)
            except OSError:
                pass
        os._exit(0)
    """,
}


@pytest.mark.parametrize("audit_hook", [True, False], ids=["hook", "no-hook"])
@pytest.mark.parametrize("body", EARLY_EXITS.values(), ids=EARLY_EXITS.keys())
def test_ending_before_the_tests_finish_fails(body: str, audit_hook: bool) -> None:
    result = run_python(humaneval_program(body), audit_hook=audit_hook)
    assert (result.passed, result.status) == (False, "failed"), result
    assert "before the tests finished" in result.reason


def test_exit_status_0_without_the_token_is_named_as_such() -> None:
    result = run_python(humaneval_program("import sys\nsys.exit(0)"))
    assert result.returncode == 0 and not result.passed
    assert result.reason == "ended before the tests finished: exit status 0 without reaching the program's end"


REACHES_THE_END = {
    "closes_stdout_then_returns": "import sys\nsys.stdout.close()\nreturn a + b",
    "closes_fd_1_then_returns": "import os\ntry:\n    os.close(1)\nexcept OSError:\n    pass  # closed by the first call\nreturn a + b",
    "catches_its_own_SystemExit": "try:\n    raise SystemExit(3)\nexcept SystemExit:\n    return a + b",
    "leaves_a_thread_running": "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\nreturn a + b",
    "registers_an_atexit_hook": "import atexit\natexit.register(print, 'bye')\nreturn a + b",
}


@pytest.mark.parametrize("body", REACHES_THE_END.values(), ids=REACHES_THE_END.keys())
def test_a_program_that_reaches_its_end_passes(body: str) -> None:
    """The controls: odd but honest programs whose tests all run still pass."""
    result = run_python(humaneval_program(body))
    assert (result.passed, result.status, result.reason) == (True, "passed", ""), result
