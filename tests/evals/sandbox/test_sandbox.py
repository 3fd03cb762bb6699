"""The sandbox runs code as data: every outcome is a SandboxResult, nothing leaks in or out."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.sandbox import IsolationError, isolation, run_python
from evals.sandbox.probe import ISOLATION_ENV, MIN_ISOLATION_ENV


def test_passing_program_reports_stdout() -> None:
    result = run_python("print(sum(range(5)))")
    assert (result.passed, result.status, result.stdout, result.reason) == (True, "passed", "10\n", "")
    assert result.duration_s > 0 and result.isolation == isolation().mode


def test_failing_assertion_is_failed_with_traceback() -> None:
    result = run_python("def add(a, b):\n    return a - b\n\nassert add(2, 3) == 5\n")
    assert (result.passed, result.status) == (False, "failed")
    assert "AssertionError" in result.stderr and 'File "main.py", line 4' in result.stderr
    assert result.reason == "exit status 1 before the tests finished: AssertionError"


def test_syntax_error_is_failed() -> None:
    assert run_python("def f(:\n").status == "failed"


def test_infinite_loop_times_out_quickly() -> None:
    result = run_python("while True:\n    pass\n", timeout_s=1.0)
    assert result.status == "timeout" and not result.passed
    # our wall-clock SIGKILL ended it (the CPU limit, timeout + 1 s, can only come later)
    assert result.returncode == -signal.SIGKILL
    assert result.duration_s < 10  # not the 5 s default nor a hang: a loose bound, the kill is what counts


def test_each_outcome_has_a_one_line_verdict() -> None:
    """What code tasks log per sample: passed, failed, timed out or killed, and why."""
    assert run_python("pass\n").verdict == "passed"
    assert run_python("assert 1 == 2\n").verdict == "failed: exit status 1 before the tests finished: AssertionError"
    assert (
        run_python("while True:\n    pass\n", timeout_s=1.0).verdict == "timed out: ran past the 1 s wall-clock limit"
    )
    crash = run_python("import faulthandler\nfaulthandler.disable()\nfaulthandler._read_null()\n")
    assert crash.verdict == "killed: by SIGSEGV before the tests finished"


def test_huge_allocation_fails() -> None:
    result = run_python("x = bytearray(4 * 1024 ** 3)\n", memory_mb=256)
    assert result.status == "failed" and "MemoryError" in result.stderr


def test_environment_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMB_TEST_SECRET", "hunter2")
    result = run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('SLMB_TEST_SECRET'))\n")
    assert result.passed
    assert "hunter2" not in result.stdout and "SLMB_TEST_SECRET" not in result.stdout


def test_runs_in_its_own_temp_dir_which_is_removed() -> None:
    result = run_python("import os\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())\n")
    cwd = Path(result.stdout.strip())
    assert result.passed and cwd.name.startswith("slmb-sandbox-")
    assert not cwd.exists()


def test_subprocess_and_fork_are_refused() -> None:
    for program in ("import subprocess\nsubprocess.run(['true'])\n", "import os\nos.fork()\n"):
        result = run_python(program)
        assert result.status == "failed" and "not allowed" in result.stderr


def test_output_is_capped_and_tailed() -> None:
    result = run_python("print('x' * 1_000_000)\nprint('end')\n")
    assert result.passed and result.stdout.endswith("end\n") and len(result.stdout) <= 4000


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections, to prove the sandbox cannot reach it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(5)

    def accept() -> None:
        try:
            conn, _ = server.accept()
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()


_CONNECT = "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).close()\nprint('connected')\n"


def test_sandboxed_program_cannot_connect(listening_port: int) -> None:
    result = run_python(_CONNECT.format(port=listening_port))
    assert result.status == "failed" and "connected" not in result.stdout


@pytest.mark.parametrize("mode", ["full", "ns+uid", "netns", "userns+netns"])
def test_network_namespace_blocks_loopback_without_the_audit_hook(
    listening_port: int, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each mode's namespace alone (no audit hook) refuses the connection the host allows."""
    monkeypatch.setenv(ISOLATION_ENV, mode)
    monkeypatch.setenv(MIN_ISOLATION_ENV, mode)
    try:
        isolation()
    except IsolationError as err:
        pytest.skip(str(err))
    result = run_python(_CONNECT.format(port=listening_port), audit_hook=False)
    assert result.isolation == mode
    assert result.status == "failed" and "connected" not in result.stdout
    # control: outside the namespace the same connection works, so the refusal was the namespace's
    socket.create_connection(("127.0.0.1", listening_port), timeout=2).close()


def test_root_only_files_are_unreadable_under_the_runs_own_uid(tmp_path: Path) -> None:
    if not isolation().own_uid:
        pytest.skip("the run keeps the caller's uid on this host")
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    secret.chmod(0o600)
    result = run_python(f"print(open({str(secret)!r}).read())\n")
    assert result.status == "failed" and "hunter2" not in result.stdout


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        run_python("pass", timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        run_python("pass", memory_mb=1)
