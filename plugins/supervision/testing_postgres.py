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
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


class PostgresUnavailable(RuntimeError):
    pass


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresUnavailable(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
def throwaway_postgres() -> Iterator[Server]:
    """Start a server in a temporary folder on a free loopback port; stop and delete it after.

    ``SUPERVISION_TEST_POSTGRES`` = ``host:port`` uses an already running server instead."""
    existing = os.environ.get("SUPERVISION_TEST_POSTGRES")
    if existing:
        host, port = existing.rsplit(":", 1)
        yield Server(host, int(port))
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="supervision-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if root:
        shutil.chown(base, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                   check=True, capture_output=True, env=env)
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(base / "server.log"), "-w",
                    "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
                          "-c synchronous_commit=off -c full_page_writes=off",
                    "start"], check=True, capture_output=True, env=env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield Server("127.0.0.1", port)
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, env=env)
        shutil.rmtree(base, ignore_errors=True)
