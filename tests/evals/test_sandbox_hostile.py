"""Hostile completions: each is contained, scored as a failure, and leaves the host and other runs alone.

Each program has the shape the code tasks give it: a prompt's function, a hostile
body where the completion goes, then the task's check. Where the audit hook
would stop the attack before the OS-level limits are reached, the test runs it
twice: through the public path, and with ``audit_hook=False`` to prove the
namespaces, the run's own uid and the rlimits contain it on their own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.sandbox import SandboxResult, isolation, run_python

full = pytest.mark.skipif(not isolation().own_uid, reason="needs the full isolation (root with namespaces)")


def completion(body: str) -> str:
    """A HumanEval-shaped program whose completion is ``body``; the check fails unless the body returns 5."""
    return "def add(a, b):\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n\nassert add(2, 3) == 5\n"


def processes_of(uid: int | None) -> list[int]:
    """Host pids of processes running as a run's own uid (none may remain after the run)."""
    pids: list[int] = []
    if uid is None:
        return pids
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:
                continue  # it ended while we looked
    return pids


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    return found


def assert_contained(result_status: str, passed: bool) -> None:
    assert not passed and result_status in ("failed", "timeout")
    # the host still forks and runs programs
    assert subprocess.run(["true"], timeout=10).returncode == 0


FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


@pytest.mark.parametrize("audit_hook", [True, False], ids=["hook", "os-limits-only"])
def test_fork_bomb_is_contained_and_other_runs_proceed(audit_hook: bool) -> None:
    bomb: dict[str, SandboxResult] = {}
    thread = threading.Thread(
        target=lambda: bomb.update(r=run_python(completion(FORK_BOMB), timeout_s=2.0, audit_hook=audit_hook))
    )
    thread.start()
    try:
        # another unit, at the same time: the bomb's process limit is its own uid's
        neighbour = run_python("print(sum(range(10)))", timeout_s=5.0)
    finally:
        thread.join()
    result = bomb["r"]
    assert_contained(result.status, result.passed)
    assert (neighbour.passed, neighbour.stdout) == (True, "45\n")
    assert processes_of(result.uid) == []


def test_infinite_loop_is_a_timeout_failure() -> None:
    result = run_python(completion("while True:\n    pass\n"), timeout_s=1.0)
    assert_contained(result.status, result.passed)
    assert result.status == "timeout" and result.returncode == -signal.SIGKILL  # the wall-clock kill


def test_ten_gigabyte_allocation_fails_with_memory_error() -> None:
    result = run_python(completion("x = bytearray(10 * 1024 ** 3)\nreturn 5\n"), memory_mb=256)
    assert_contained(result.status, result.passed)
    assert "MemoryError" in result.stderr


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    """A world-writable folder outside the sandbox with a world-writable file: only the read-only mount protects it."""
    folder = Path(tempfile.mkdtemp(prefix="slmb-hostile-"))
    folder.chmod(0o777)
    victim = folder / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o666)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@full
@pytest.mark.parametrize(
    "body",
    [
        "open({folder!r} + '/planted.txt', 'w').write('x')\nreturn 5\n",
        "import os\nos.remove({folder!r} + '/victim.txt')\nreturn 5\n",
        "open({folder!r} + '/victim.txt', 'w').write('overwritten')\nreturn 5\n",
        "import shutil\nshutil.rmtree({folder!r})\nreturn 5\n",
    ],
    ids=["write", "delete", "overwrite", "rmtree"],
)
def test_writing_and_deleting_outside_its_directory_fail(outside_dir: Path, body: str) -> None:
    result = run_python(completion(body.format(folder=str(outside_dir))), audit_hook=False)
    assert_contained(result.status, result.passed)
    assert "Read-only file system" in result.stderr
    assert sorted(p.name for p in outside_dir.iterdir()) == ["victim.txt"]
    assert (outside_dir / "victim.txt").read_text() == "keep me"


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP server on 127.0.0.1 recording every connection it accepts."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except OSError:
                continue
            accepted.append(peer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("audit_hook", [True, False], ids=["hook", "os-limits-only"])
def test_socket_to_a_local_server_is_refused(listener: tuple[int, list[object]], audit_hook: bool) -> None:
    port, accepted = listener
    if not audit_hook and isolation().mode == "none":
        pytest.skip("no network namespace on this host")
    body = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'x')\nreturn 5\n"
    result = run_python(completion(body), audit_hook=audit_hook)
    assert_contained(result.status, result.passed)
    assert accepted == []
    # control: the server does accept from the host
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


READ_SECRETS = """
import os
seen = [repr(dict(os.environ))]
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            seen.append(open('/proc/' + pid + '/environ', 'rb').read().decode('latin-1'))
        except OSError:
            pass
print(' '.join(seen))
return 5 if 'hunter2' in ' '.join(seen) else 0
"""


@pytest.mark.parametrize("audit_hook", [True, False], ids=["hook", "os-limits-only"])
def test_parent_environment_secrets_are_unreadable(monkeypatch: pytest.MonkeyPatch, audit_hook: bool) -> None:
    monkeypatch.setenv("SLMB_HOSTILE_SECRET", "hunter2")
    os.environ["SLMB_HOSTILE_SECRET"] = "hunter2"  # in this process's real environ, as a token would be
    result = run_python(completion(READ_SECRETS), audit_hook=audit_hook)
    assert_contained(result.status, result.passed)
    assert "hunter2" not in result.stdout and "hunter2" not in result.stderr


SPAWN = """
import os, subprocess
subprocess.Popen(['sleep', '{marker}'], start_new_session=True)
return 5
"""

FORK_EXEC = """
import os
if os.fork() == 0:
    os.setsid()
    os.execv('/bin/sleep', ['sleep', '{marker}'])
return None
"""


def test_spawned_process_is_refused() -> None:
    result = run_python(completion(SPAWN.format(marker="4242.25")))
    assert_contained(result.status, result.passed)
    assert "not allowed" in result.stderr
    assert processes_with("4242.25") == []


@full
def test_process_that_escapes_its_session_does_not_outlive_the_run() -> None:
    """Without the hook a child can fork, setsid and exec; the pid namespace still takes it down."""
    result = run_python(completion(FORK_EXEC.format(marker="4242.5")), audit_hook=False)
    assert_contained(result.status, result.passed)
    assert processes_with("4242.5") == []
    assert result.uid is not None and processes_of(result.uid) == []
