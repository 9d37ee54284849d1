"""A throwaway PostgreSQL server from the binaries installed on the machine, for tests and
benchmarks (never for production). Runs as the ``postgres`` user when started by root, since
``initdb`` refuses to run as root.

    with throwaway_postgres() as server:
        url = server.create_database("figures")   # postgresql+psycopg://…/figures
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from supervision.testing_servers import Deadline, StartupError, address_in_use, free_port

__all__ = ["PostgresStartupError", "PostgresUnavailable", "Server", "free_port",
           "throwaway_postgres"]


class PostgresUnavailable(RuntimeError):
    pass


class PostgresStartupError(PostgresUnavailable, StartupError):
    pass


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresUnavailable(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")


@dataclass
class Server:
    host: str
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def throwaway_postgres(attempts: int = 5) -> Iterator[Server]:
    """Start a server in a temporary folder on a free loopback port; stop and delete it after,
    also when starting fails (and those of earlier runs killed before they could). A port another process took meanwhile ("could not bind") is
    retried on another port, up to ``attempts`` times; any other failure raises
    ``PostgresStartupError`` with what was awaited and the last 30 lines of the server's log.

    ``SUPERVISION_TEST_POSTGRES`` = ``host:port`` uses an already running server instead."""
    existing = os.environ.get("SUPERVISION_TEST_POSTGRES")
    if existing:
        host, port = existing.rsplit(":", 1)
        yield Server(host, int(port))
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    root = os.geteuid() == 0
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if root else []
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    _remove_orphans(prefix, pg_ctl, env)
    base = Path(tempfile.mkdtemp(prefix="supervision-pg-"))
    (base / "owner.pid").write_text(str(os.getpid()))
    data, log = base / "data", base / "server.log"
    if root:
        shutil.chown(base, "postgres", "postgres")

    def stop() -> None:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, env=env, timeout=120)

    try:
        deadline = Deadline(60)
        done = subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
                               "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                              capture_output=True, env=env, timeout=deadline.allowed())
        if done.returncode != 0:
            raise PostgresStartupError("PostgreSQL", f"initdb of {data}", None,
                                       f"initdb exited with {done.returncode}: "
                                       f"{(done.stdout + done.stderr).decode(errors='replace')}")
        for attempt in range(1, attempts + 1):
            port = free_port()
            server = Server("127.0.0.1", port)
            deadline = Deadline(60)
            done = subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-l", str(log), "-w",
                 "-t", str(int(deadline.allowed())),
                 "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off",
                 "start"], capture_output=True, env=env, timeout=deadline.allowed() + 30)
            output = (done.stdout + done.stderr).decode(errors="replace")
            if done.returncode != 0:
                stop()
                log_text = log.read_text("utf-8", errors="replace") if log.exists() else ""
                if attempt < attempts and address_in_use(log_text.split("starting PostgreSQL")[-1]):
                    continue           # another process took the port: another one
                raise PostgresStartupError(
                    "PostgreSQL", f"pg_ctl start on 127.0.0.1:{port} (attempt {attempt})", log,
                    f"pg_ctl exited with {done.returncode} after {deadline.describe()}: {output}")
            _await_connection(server, log, deadline)
            break
        yield server
    finally:
        stop()
        shutil.rmtree(base, ignore_errors=True)


def _remove_orphans(prefix: list[str], pg_ctl: str, env: dict) -> None:
    """Servers left by an earlier run whose process is gone (killed before it could stop its
    server): stopped, their folders removed. Only folders with an ``owner.pid`` of a process
    that no longer exists are touched."""
    for owner in Path(tempfile.gettempdir()).glob("supervision-pg-*/owner.pid"):
        try:
            pid = int(owner.read_text())
            os.kill(pid, 0)
            continue                   # its owner still runs
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        data = owner.parent / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, env=env, timeout=120)
        shutil.rmtree(owner.parent, ignore_errors=True)


def _await_connection(server: Server, log: Path, deadline: Deadline) -> None:
    """The server answers a query (not only its port: the database system may be starting)."""
    import psycopg  # noqa: PLC0415

    last = None
    while True:
        try:
            with psycopg.connect(host=server.host, port=server.port, user=server.user,
                                 dbname="postgres", connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            last = exc
        if deadline.expired():
            raise PostgresStartupError("PostgreSQL", f"a query on {server.host}:{server.port}", log,
                                       f"still failing after {deadline.describe()}: {last}")
        time.sleep(0.2)
