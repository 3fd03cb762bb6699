"""Reading files named by a user: regular files only, and never a blocking open.

A FIFO blocks ``open()`` until something writes to it; ``/dev/zero`` or ``/dev/urandom`` never
ends, so reading one exhausts memory. A path a user gives may be either, directly or through a
symlink. Opening with ``O_NONBLOCK`` returns at once whatever the path is, and ``fstat`` on the
open descriptor says what it really is (no window between the check and the read). A file that
came from someone else (a pull request's submission) is opened with ``follow_links=False``:
``O_NOFOLLOW`` refuses a link in the last component, so a committed link to ``/etc/shadow`` is
not read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from contracts.errors import UserError

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotARegularFile(UserError):
    """The path exists but is a folder, a FIFO, a device or a socket; ``kind`` says which."""

    def __init__(self, path: str | Path, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind


class SymbolicLink(NotARegularFile):
    """The path is a symbolic link, and the caller asked for links not to be followed."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, "a symbolic link")


def kind_of(mode: int) -> str:
    """What a ``st_mode`` describes, in words: "a regular file", "a FIFO (named pipe)", ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | Path, follow_links: bool = True) -> int:
    """A read-only descriptor on ``path``; raises :class:`NotARegularFile` (or ``OSError``) otherwise.

    ``follow_links=False``: a symbolic link (as the last component) raises :class:`SymbolicLink`.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise SymbolicLink(path) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(path, kind_of(mode))
        os.set_blocking(fd, True)  # a regular file: ordinary reads from here on
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | Path, limit: int, follow_links: bool = True) -> bytes:
    """Up to ``limit + 1`` bytes of a regular file (one more than allowed, so the caller sees it is too big)."""
    fd = open_regular(path, follow_links)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit + 1)
