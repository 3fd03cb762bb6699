"""Hostile completions: each is contained, scored as a failure, and leaves the host and other runs alone.

Each program has the shape the code tasks give it: a prompt's function, a hostile
body where the completion goes, then the task's check. The audit hook would stop
many attacks before the OS-level layers are reached, and a program can switch it
off, so each attack is also tried with the hook switched off by the program
itself (``gc`` walk to the hook, ``__defaults__`` emptied) and with no hook at all:
the namespaces, the fresh root, the run's own uid and the rlimits must contain it
on their own. Where our ``unshare`` fallback (``ns+uid``) claims the same, the
attack is tried there too.
"""

from __future__ import annotations

import json
import os
import secrets
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

from evals.sandbox import IsolationError, SandboxResult, isolation, run_python
from evals.sandbox.probe import ISOLATION_ENV, MIN_ISOLATION_ENV

# Empties the audit hook's block list from inside the program, then proves it: the hook refuses sockets.
SWITCH_OFF_HOOK = """
import gc, socket
for _obj in gc.get_objects():
    if getattr(_obj, "__name__", None) == "_deny" and getattr(_obj, "__defaults__", None):
        _obj.__defaults__ = (frozenset(),)
socket.socket().close()
print("hook switched off", flush=True)
"""
HOW = ["hook", "hook-switched-off-through-gc", "no-hook"]


def completion(body: str) -> str:
    """A HumanEval-shaped program whose completion is ``body``; the check fails unless the body returns 5."""
    return "def add(a, b):\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n\nassert add(2, 3) == 5\n"


def attack(body: str, how: str, **limits: float) -> SandboxResult:
    """Run a hostile completion with the hook on, switched off by the program, or left out."""
    if how == "hook-switched-off-through-gc":
        result = run_python(SWITCH_OFF_HOOK + completion(body), **limits)  # type: ignore[arg-type]
        assert "hook switched off" in result.stdout, result  # the attack really ran without the hook
        return result
    return run_python(completion(body), audit_hook=how == "hook", **limits)  # type: ignore[arg-type]


@pytest.fixture
def fallback(monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs in ``ns+uid``, our own unshare code, through the supported override of the probe (a skip without root)."""
    monkeypatch.setenv(ISOLATION_ENV, "ns+uid")
    monkeypatch.setenv(MIN_ISOLATION_ENV, "ns+uid")
    try:
        isolation()
    except IsolationError as err:
        pytest.skip(str(err))
    return "ns+uid"


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


def assert_contained(result: SandboxResult) -> None:
    assert not result.passed and result.status in ("failed", "timeout"), result
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


@pytest.mark.parametrize("how", HOW)
def test_fork_bomb_is_contained_and_other_runs_proceed(how: str) -> None:
    bomb: dict[str, SandboxResult] = {}
    thread = threading.Thread(target=lambda: bomb.update(r=attack(FORK_BOMB, how, timeout_s=1.0)))
    thread.start()
    try:
        # another unit, at the same time: the bomb's process limit is its own
        neighbour = run_python("print(sum(range(10)))", timeout_s=5.0)
    finally:
        thread.join()
    assert_contained(bomb["r"])
    assert (neighbour.passed, neighbour.stdout) == (True, "45\n")
    assert processes_of(bomb["r"].uid) == []


def test_fork_bomb_is_contained_by_the_fallback(fallback: str) -> None:
    result = run_python(completion(FORK_BOMB), timeout_s=1.0, audit_hook=False)
    assert_contained(result)
    assert result.isolation == fallback and processes_of(result.uid) == []


def test_infinite_loop_is_a_timeout_failure() -> None:
    result = run_python(completion("while True:\n    pass\n"), timeout_s=1.0)
    assert_contained(result)
    assert result.status == "timeout" and result.returncode == -signal.SIGKILL  # the wall-clock kill


def test_ten_gigabyte_allocation_fails_with_memory_error() -> None:
    result = run_python(completion("x = bytearray(10 * 1024 ** 3)\nreturn 5\n"), memory_mb=256)
    assert_contained(result)
    assert "MemoryError" in result.stderr


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    """A world-writable folder outside the sandbox with a world-writable file: only the sandbox protects it."""
    folder = Path(tempfile.mkdtemp(prefix="slmb-hostile-"))
    folder.chmod(0o777)
    victim = folder / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o666)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


WRITES = {
    "write": "open({folder!r} + '/planted.txt', 'w').write('x')\nreturn 5\n",
    "delete": "import os\nos.remove({folder!r} + '/victim.txt')\nreturn 5\n",
    "overwrite": "open({folder!r} + '/victim.txt', 'w').write('overwritten')\nreturn 5\n",
    "rmtree": "import shutil\nshutil.rmtree({folder!r})\nreturn 5\n",
}


def assert_untouched(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == ["victim.txt"]
    assert (folder / "victim.txt").read_text() == "keep me"


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("body", WRITES.values(), ids=WRITES.keys())
def test_writing_and_deleting_outside_its_directory_fail(outside_dir: Path, body: str, how: str) -> None:
    result = attack(body.format(folder=str(outside_dir)), how)
    assert_contained(result)
    assert "No such file or directory" in result.stderr  # full: the folder is not in the program's root at all
    assert_untouched(outside_dir)


@pytest.mark.parametrize("body", WRITES.values(), ids=WRITES.keys())
def test_writing_and_deleting_outside_its_directory_fail_in_the_fallback(
    fallback: str, outside_dir: Path, body: str
) -> None:
    result = run_python(completion(body.format(folder=str(outside_dir))), audit_hook=False)
    assert_contained(result)
    assert result.isolation == fallback
    assert_untouched(outside_dir)


def test_the_program_sees_a_fresh_root_with_only_what_it_needs() -> None:
    program = "import json, os\nprint(json.dumps([os.listdir('/'), os.listdir('/tmp'), os.listdir('/dev')]))\n"
    result = run_python(program)
    assert result.passed and result.isolation == "full"
    root, tmp, dev = json.loads(result.stdout)
    assert set(root) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "proc", "dev", "tmp"}
    assert len(tmp) == 1 and tmp[0].startswith("slmb-sandbox-")  # its own directory, nothing of the host's /tmp
    assert "shm" in dev and not {"sda", "vda", "nvme0", "mem", "kmsg"} & set(dev)


@pytest.fixture
def tcp_listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP server on 127.0.0.1 recording every connection it accepts."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    with serving(server) as accepted:
        yield server.getsockname()[1], accepted


class serving:
    """Accept connections on a listening socket in a thread, recording each."""

    def __init__(self, server: socket.socket) -> None:
        self.server = server
        self.accepted: list[object] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, peer = self.server.accept()
            except OSError:
                continue
            self.accepted.append(peer or "unix")
            conn.close()

    def __enter__(self) -> list[object]:
        self.server.listen()
        self.server.settimeout(0.05)
        self.thread.start()
        return self.accepted

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


@pytest.mark.parametrize("how", HOW)
def test_socket_to_a_local_server_is_refused(tcp_listener: tuple[int, list[object]], how: str) -> None:
    port, accepted = tcp_listener
    body = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'x')\nreturn 5\n"
    assert_contained(attack(body, how))
    assert accepted == []
    socket.create_connection(("127.0.0.1", port), timeout=2).close()  # control: the host can connect
    assert len(accepted) == 1 or _eventually(lambda: len(accepted) == 1)


def test_socket_to_a_local_server_is_refused_in_the_fallback(
    fallback: str, tcp_listener: tuple[int, list[object]]
) -> None:
    port, accepted = tcp_listener
    body = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'x')\nreturn 5\n"
    assert_contained(run_python(completion(body), audit_hook=False))
    assert accepted == []


def _eventually(check: object, tries: int = 50) -> bool:
    import time

    for _ in range(tries):
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def unix_listeners() -> Iterator[tuple[list[str], list[object]]]:
    """Listening unix sockets with mode 0777 where hosts keep them (/tmp, /run, /dev/shm, /var/tmp), and an abstract one."""
    tag = secrets.token_hex(4)
    paths = [f"{folder}/slmb-hostile-{tag}.sock" for folder in ("/tmp", "/run", "/dev/shm", "/var/tmp")]
    paths = [p for p in paths if os.access(os.path.dirname(p), os.W_OK)]
    servers, accepted = [], []
    for address in [*paths, f"\0slmb-hostile-{tag}"]:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(address)
        if not address.startswith("\0"):
            os.chmod(address, 0o777)
        servers.append(serving(server))
    for server in servers:
        accepted.append(server.__enter__())
    try:
        yield [*paths, f"@slmb-hostile-{tag}"], accepted
    finally:
        for server in servers:
            server.__exit__()
        for path in paths:
            os.unlink(path)


UNIX_CONNECT = """
import socket
reached = []
for address in {addresses!r}:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(address.replace("@", "\\0", 1) if address.startswith("@") else address)
        s.sendall(b"x")
        reached.append(address)
    except OSError as err:
        print(address, err)
print("reached", reached)
return 5 if reached else None
"""


@pytest.mark.parametrize("how", HOW)
def test_unix_sockets_on_the_host_cannot_be_reached(unix_listeners: tuple[list[str], list[object]], how: str) -> None:
    addresses, accepted = unix_listeners
    result = attack(UNIX_CONNECT.format(addresses=addresses), how)
    assert_contained(result)
    assert all(a == [] for a in accepted), accepted
    assert "reached []" in result.stdout or how == "hook"
    # control: each of them accepts a connection from the host
    for address in addresses:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(address.replace("@", "\0", 1) if address.startswith("@") else address)
        client.close()
    assert _eventually(lambda: all(len(a) == 1 for a in accepted))


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


@pytest.mark.parametrize("how", HOW)
def test_parent_environment_secrets_are_unreadable(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setenv("SLMB_HOSTILE_SECRET", "hunter2")  # in this process's real environ, as a token would be
    result = attack(READ_SECRETS, how)
    assert_contained(result)
    assert "hunter2" not in result.stdout and "hunter2" not in result.stderr


def test_parent_environment_secrets_are_unreadable_in_the_fallback(
    monkeypatch: pytest.MonkeyPatch, fallback: str
) -> None:
    monkeypatch.setenv("SLMB_HOSTILE_SECRET", "hunter2")
    result = run_python(completion(READ_SECRETS), audit_hook=False)
    assert_contained(result)
    assert "hunter2" not in result.stdout and "hunter2" not in result.stderr


SPAWN = """
import subprocess
subprocess.Popen(['sleep', '{marker}'], start_new_session=True)
print('spawned', flush=True)
return None
"""

FORK_EXEC = """
import os
if os.fork() == 0:
    os.setsid()
    os.execv('/bin/sleep', ['sleep', '{marker}'])
print('spawned', flush=True)
return None
"""

# The audit hook never sees this one: subprocess raises its event in Popen, not here.
POSIXSUBPROCESS_FORK_EXEC = """
import _posixsubprocess, os
r, w = os.pipe()
call = ([b'/bin/sleep', b'{marker}'], [b'/bin/sleep'], True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w, True, True, -1, None, None, None, -1, None)
try:
    _posixsubprocess.fork_exec(*call, False)  # 3.11 and 3.12: allow_vfork last
except TypeError:
    _posixsubprocess.fork_exec(*call)
print('spawned', flush=True)
return None
"""


def test_spawned_process_is_refused_by_the_hook() -> None:
    result = run_python(completion(SPAWN.format(marker="4242.25")))
    assert_contained(result)
    assert "not allowed" in result.stderr
    assert processes_with("4242.25") == []


def test_posixsubprocess_fork_exec_bypasses_the_hook_but_does_not_outlive_the_run() -> None:
    result = run_python(completion(POSIXSUBPROCESS_FORK_EXEC.format(marker="4242.375")))
    assert "spawned" in result.stdout  # the hook let it through
    assert_contained(result)
    assert processes_with("4242.375") == []
    assert processes_of(result.uid) == []


@pytest.mark.parametrize("how", HOW[1:])
@pytest.mark.parametrize("program", [SPAWN, FORK_EXEC], ids=["popen", "fork-setsid-exec"])
def test_process_that_escapes_its_session_does_not_outlive_the_run(how: str, program: str) -> None:
    """Without the hook a child can leave the session; the pid namespace still takes it down with the run."""
    marker = f"4242.{secrets.randbelow(10**6)}"
    result = attack(program.format(marker=marker), how)
    assert "spawned" in result.stdout
    assert_contained(result)
    assert processes_with(marker) == []
    assert processes_of(result.uid) == []


def test_process_that_escapes_its_session_does_not_outlive_the_run_in_the_fallback(fallback: str) -> None:
    result = run_python(completion(FORK_EXEC.format(marker="4242.625")), audit_hook=False)
    assert "spawned" in result.stdout
    assert_contained(result)
    assert processes_with("4242.625") == []
    assert result.uid is not None and processes_of(result.uid) == []
