"""The ChatOps record: an append-only JSONL audit trail and a small SQLite state store.

The audit trail has one line per command and per outcome, each with its delivery and run
ids, so "who started what, and what came of it" is answerable from one file. The store
holds what later steps need: the deliveries already seen (replay protection: their delivery
ids and the signed content's replay keys), the PRs whose accepted benchmark is being started
(one at a time per PR), the checks each PR caused lately (a rate limit per PR), and which flow
run tested or published which PR head.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("slmbench.chatops")

SCHEMA = """
create table if not exists deliveries (id text primary key, received_at text not null);
create table if not exists benchmarks (
    flow_run_id text primary key, repo text not null, pr integer not null, head_sha text not null,
    path text not null, command text not null, created_at text not null,
    status text not null default 'scheduled', run_id text, message text);
create index if not exists benchmarks_pr on benchmarks (repo, pr, created_at);
create table if not exists reservations (
    repo text not null, pr integer not null, delivery text not null, created_at real not null,
    primary key (repo, pr));
create table if not exists pr_checks (repo text not null, pr integer not null, at real not null);
create index if not exists pr_checks_pr on pr_checks (repo, pr, at);
create table if not exists publishes (
    flow_run_id text primary key, repo text not null, pr integer not null, run_id text not null,
    head_sha text not null, created_at text not null, status text not null default 'scheduled', message text);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **fields: Any) -> None:
        record = {"at": _now(), "event": event, **fields}
        line = json.dumps(record, default=str, sort_keys=True)
        # One write(2) per line on an O_APPEND descriptor: lines from threads and from other
        # processes (the flow runs' hooks) never interleave, with no lock for threads to queue on.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        log.info("%s", line)

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


class Store:
    """One connection per process, one transaction at a time: the receiver's threads share it.

    A connection per call made each close the last one, and SQLite checkpoints and deletes the
    WAL then; with threads waiting in SQLite's sleeping busy handler, the receiver's event loop
    (which claims deliveries inline) spent 40% of a 50-concurrent burst blocked here. In one
    process a lock orders the transactions instead; other processes (the flow runs' hooks)
    still meet this one through SQLite's own locking and ``timeout``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        with self._connect() as db:
            db.execute("pragma journal_mode=wal")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None or self._pid != os.getpid():  # a forked child opens its own
                self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                self._db.row_factory = sqlite3.Row
                self._db.execute("pragma synchronous=normal")
                self._pid = os.getpid()
            with self._db:  # commits, or rolls back on error
                yield self._db

    def claim_delivery(self, *keys: str) -> bool:
        """True when none of ``keys`` (the delivery id, the content's replay key) was seen before.

        All are recorded in one transaction: two concurrent copies cannot both win, and a copy
        that shares either key with an earlier delivery records nothing.
        """
        with self._connect() as db:
            for key in keys:
                if db.execute("insert or ignore into deliveries values (?, ?)", (key, _now())).rowcount == 0:
                    db.rollback()
                    return False
            return True

    def forget_delivery(self, *keys: str) -> None:
        """After a failure on our side, so GitHub's redelivery is handled rather than dropped."""
        with self._connect() as db:
            db.executemany("delete from deliveries where id = ?", [(key,) for key in keys])

    def reserve_pr(self, repo: str, pr: int, delivery: str, ttl_s: float) -> str | None:
        """Hold PR ``pr`` for ``delivery`` while its runs are created; the holder's delivery if another holds it.

        One immediate transaction (SQLite's write lock): two receivers cannot both take it. A
        reservation older than ``ttl_s`` seconds was left by a receiver that died: it is taken over.
        """
        now = time.time()
        with self._connect() as db:
            db.execute("begin immediate")
            row = db.execute("select delivery, created_at from reservations where repo = ? and pr = ?", (repo, pr))
            held = row.fetchone()
            if held is not None and now - held["created_at"] < ttl_s and held["delivery"] != delivery:
                return str(held["delivery"])
            db.execute("insert or replace into reservations values (?, ?, ?, ?)", (repo, pr, delivery, now))
        return None

    def take_pr_check(self, repo: str, pr: int, limit: int, window_s: float) -> bool:
        """Count one check of PR ``pr``; False (nothing counted) when it had ``limit`` in the last ``window_s`` s."""
        now = time.time()
        with self._connect() as db:
            db.execute("begin immediate")
            db.execute("delete from pr_checks where at < ?", (now - window_s,))
            (used,) = db.execute("select count(*) from pr_checks where repo = ? and pr = ?", (repo, pr)).fetchone()
            if used >= limit:
                return False
            db.execute("insert into pr_checks values (?, ?, ?)", (repo, pr, now))
        return True

    def release_pr(self, repo: str, pr: int, delivery: str) -> None:
        with self._connect() as db:
            db.execute("delete from reservations where repo = ? and pr = ? and delivery = ?", (repo, pr, delivery))

    def record_benchmark(self, flow_run_id: str, repo: str, pr: int, head_sha: str, path: str, command: str) -> None:
        with self._connect() as db:
            db.execute(
                "insert or ignore into benchmarks (flow_run_id, repo, pr, head_sha, path, command, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                (flow_run_id, repo, pr, head_sha, path, command, _now()),
            )

    def finish_benchmark(self, flow_run_id: str, status: str, run_id: str | None, message: str | None) -> None:
        with self._connect() as db:
            db.execute(
                "update benchmarks set status = ?, run_id = ?, message = ? where flow_run_id = ?",
                (status, run_id, message, flow_run_id),
            )

    def benchmark(self, flow_run_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("select * from benchmarks where flow_run_id = ?", (flow_run_id,)).fetchone()
        return dict(row) if row else None

    def latest_benchmarks(self, repo: str, pr: int) -> list[dict[str, Any]]:
        """The PR's benchmark runs, newest first."""
        with self._connect() as db:
            rows = db.execute(
                "select * from benchmarks where repo = ? and pr = ? order by created_at desc", (repo, pr)
            ).fetchall()
        return [dict(r) for r in rows]

    def record_publish(self, flow_run_id: str, repo: str, pr: int, run_id: str, head_sha: str) -> None:
        with self._connect() as db:
            db.execute(
                "insert or ignore into publishes (flow_run_id, repo, pr, run_id, head_sha, created_at) values (?, ?, ?, ?, ?, ?)",
                (flow_run_id, repo, pr, run_id, head_sha, _now()),
            )

    def finish_publish(self, flow_run_id: str, status: str, message: str | None) -> None:
        with self._connect() as db:
            db.execute(
                "update publishes set status = ?, message = ? where flow_run_id = ?", (status, message, flow_run_id)
            )

    def publish(self, flow_run_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("select * from publishes where flow_run_id = ?", (flow_run_id,)).fetchone()
        return dict(row) if row else None


def open_record(state_dir: Path) -> tuple[Store, AuditLog]:
    return Store(state_dir / "state.sqlite"), AuditLog(state_dir / "audit.jsonl")
