"""A real Prefect server on a real PostgreSQL, both started in a temporary folder (tests, benchmarks).

    with postgres_database() as url, prefect_server(url) as api:
        ...  # PREFECT_API_URL=api

PostgreSQL is Debian's (``initdb`` and ``pg_ctl`` of the newest version under
/usr/lib/postgresql, or on PATH): a cluster of its own in the folder, on a
free port of 127.0.0.1, trust authentication for its one superuser. It
refuses to run as root, so under root it runs as the ``postgres`` user (the
package creates it) and the folder is handed to that user. The Prefect
server is ``prefect server start`` with ``PREFECT_API_DATABASE_CONNECTION_URL``
on the ``postgresql+asyncpg`` driver (asyncpg, pinned in pyproject.toml),
its UI off, migrations run at start.

Select it for the whole test session with ``SLMBENCH_TEST_PREFECT=postgres``
(tests/conftest.py; ``make test-postgres``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from tests.servers import free_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, or no user it may run as."""


def postgres_bin() -> Path:
    """The folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/<v>/bin, or PATH's."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable("no initdb found: install PostgreSQL's server package (Debian: postgresql)")


def _as_postgres_user() -> list[str]:
    """How to run PostgreSQL's programs: as ourselves, or (under root, which it refuses) as the postgres user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no 'postgres' user for PostgreSQL to run as") from None
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_database(name: str = "prefect") -> Iterator[str]:
    """A PostgreSQL cluster of its own with database ``name``; yields its SQLAlchemy URL (asyncpg driver)."""
    binaries, run_as = postgres_bin(), _as_postgres_user()
    folder = Path(tempfile.mkdtemp(prefix="slmb-pg-"))
    data, socket_dir, log = folder / "data", folder / "sockets", folder / "postgres.log"
    socket_dir.mkdir()
    if run_as:
        user = pwd.getpwnam("postgres")
        for path in (folder, socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = free_port()
    try:
        subprocess.run(
            [*run_as, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run(
            [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        try:
            subprocess.run(
                [*run_as, str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name],
                check=True,
                capture_output=True,
                timeout=60,
            )
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{name}"
        finally:
            subprocess.run(
                [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=120,
                check=False,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def prefect_server(database_url: str) -> Iterator[str]:
    """``prefect server start`` on ``database_url``; yields its API URL once it answers /health.

    One server process: Prefect's ``--workers`` above 1 also needs Redis as its message broker.
    """
    home = Path(tempfile.mkdtemp(prefix="slmb-prefect-"))
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
             "--no-ui"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.5)
        yield api
    finally:
        with suppress(ProcessLookupError):  # gone already (it failed to start): the error above says why
            os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
