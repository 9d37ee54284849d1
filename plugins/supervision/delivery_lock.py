"""One send of a month at a time: a lock in the warehouse, per month.

Two sends of one month at the same time (a cleared task while the old try still runs, a manual
``make run`` beside the DAG, two workers) must not both work on the month's ledger: each would
see the other's claimed rows as "outcome unknown" and a message could be split between them.
So :func:`deliver <supervision.delivery.deliver>` holds the month's lock while it sends:

* **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``) on a connection held
  for the send; the server releases it when the session ends, also when the process is killed.
* **SQLite**: a row of ``delivery_locks`` (primary key ``report_month``), inserted to take the
  lock, renewed after every message, deleted on release. A row whose holder is gone — the same
  host and its pid no longer running, or not renewed within the lease (another host) — is stale
  and taken over.

A second send waits up to ``wait`` seconds (``SUPERVISION_SEND_LOCK_WAIT_SECONDS``, default 300),
then stops with :class:`SendInProgress`: "another send of 2020-06 is in progress (...)" — a
retryable error: the next try finds the month sent, or sends what the other left.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from .errors import SupervisionError

log = logging.getLogger(__name__)

#: a holder renews after each message; one not renewed for this long is gone (another host)
LEASE = timedelta(minutes=10)
POLL_SECONDS = 0.5
DEFAULT_WAIT_SECONDS = 300.0


class SendInProgress(SupervisionError):
    """Another send of the month holds its lock."""

    retryable = True

    def __init__(self, month: str, holder: str | None, waited: float):
        self.month, self.holder = month, holder
        super().__init__(f"another send of {month} is in progress ({holder or 'holder unknown'}); "
                         f"waited {waited:.0f} s. Nothing was sent by this one; when the other "
                         f"ends, a retry sends whatever it left")


def holder_description() -> str:
    """Who sends: host, pid and, inside an Airflow task, its run and try."""
    parts = [f"{socket.gethostname()} pid {os.getpid()}"]
    run, attempt = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID"), os.environ.get("AIRFLOW_CTX_TRY_NUMBER")
    if run:
        parts.append(f"run {run}" + (f" try {attempt}" if attempt else ""))
    return ", ".join(parts)


def wait_seconds() -> float:
    value = os.environ.get("SUPERVISION_SEND_LOCK_WAIT_SECONDS", "").strip()
    try:
        return float(value) if value else DEFAULT_WAIT_SECONDS
    except ValueError as exc:
        raise ValueError(f"SUPERVISION_SEND_LOCK_WAIT_SECONDS must be a number of seconds, "
                         f"got {value!r}") from exc


def _now() -> datetime:
    return datetime.now(timezone.utc)


def advisory_key(month: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``, the same in every process."""
    digest = hashlib.sha256(f"supervision.delivery:{month}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(row, now: datetime) -> bool:
    if row.host == socket.gethostname() and not _pid_running(int(row.pid)):
        return True
    return now - datetime.fromisoformat(row.renewed_at) > LEASE


class MonthLock:
    """The held lock of one month's send (see :func:`send_lock`)."""

    def __init__(self, engine: Engine, month: str, holder: str):
        self.engine, self.month, self.holder = engine, month, holder
        self.token = uuid.uuid4().hex
        self._conn: Connection | None = None     # PostgreSQL: the session holding the lock

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # -- taking and giving back
    def try_acquire(self) -> bool:
        if self.postgres:
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": advisory_key(self.month)}).scalar()
            if got:  # who holds it, for the second send's message (pg_stat_activity)
                conn.execute(text("SELECT set_config('application_name', :n, false)"),
                             {"n": f"supervision send: {self.holder}"[:63]})
                self._conn = conn
            conn.commit()
            if not got:
                conn.close()
            return bool(got)
        now = _now().isoformat()
        params = {"m": self.month, "h": self.holder, "host": socket.gethostname(),
                  "pid": os.getpid(), "t": self.token, "at": now}
        insert = text("INSERT INTO delivery_locks (report_month, holder, host, pid, token, "
                      "acquired_at, renewed_at) VALUES (:m, :h, :host, :pid, :t, :at, :at)")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert, params)
            return True
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(text("SELECT holder, host, pid, token, renewed_at FROM delivery_locks "
                                    "WHERE report_month = :m"), {"m": self.month}).first()
            if row is None or not _stale(row, _now()):
                return False
            log.warning("send lock of %s: taking over the stale lock of %s (last renewed %s)",
                        self.month, row.holder, row.renewed_at)
            conn.execute(text("DELETE FROM delivery_locks WHERE report_month = :m AND token = :t"),
                         {"m": self.month, "t": row.token})
        try:
            with self.engine.begin() as conn:
                conn.execute(insert, params)
            return True
        except IntegrityError:
            return False

    def renew(self) -> bool:
        """Still ours? (SQLite: renews the lease; PostgreSQL: the session holds it.)"""
        if self.postgres:
            return self._conn is not None and not self._conn.closed
        with self.engine.begin() as conn:
            return conn.execute(text("UPDATE delivery_locks SET renewed_at = :at WHERE report_month = :m "
                                     "AND token = :t"),
                                {"m": self.month, "t": self.token, "at": _now().isoformat()}).rowcount == 1

    def release(self) -> None:
        if self.postgres:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(self.month)})
                    self._conn.execute(text("RESET application_name"))
                    self._conn.commit()
                finally:
                    self._conn.close()
                    self._conn = None
            return
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM delivery_locks WHERE report_month = :m AND token = :t"),
                         {"m": self.month, "t": self.token})


def current_holder(engine: Engine, month: str) -> str | None:
    """Who holds the month's lock now (None: nobody; a stale SQLite row counts as nobody)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(month)}).scalar()
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(month)})
                conn.commit()
                return None
            key = advisory_key(month) & 0xFFFFFFFFFFFFFFFF
            row = conn.execute(text(
                "SELECT l.pid, a.application_name, a.backend_start FROM pg_locks l LEFT JOIN "
                "pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.objsubid = 1 AND l.classid::bigint = :hi AND l.objid::bigint = :lo"),
                {"hi": key >> 32, "lo": key & 0xFFFFFFFF}).first()
            conn.commit()
            if row is None:
                return "a send holds the PostgreSQL advisory lock"
            name = (row.application_name or "").removeprefix("supervision send: ")
            return f"{name or 'a send'} (PostgreSQL backend pid {row.pid})"
    with engine.connect() as conn:
        row = conn.execute(text("SELECT holder, host, pid, token, acquired_at, renewed_at FROM "
                                "delivery_locks WHERE report_month = :m"), {"m": month}).first()
    if row is None or _stale(row, _now()):
        return None
    return f"{row.holder}, since {row.acquired_at}"


@contextmanager
def send_lock(engine: Engine, month: str, wait: float | None = None,
              holder: str | None = None) -> Iterator[MonthLock]:
    """Hold the month's send lock for the block; wait up to ``wait`` seconds for it, then raise
    :class:`SendInProgress`."""
    wait = wait_seconds() if wait is None else wait
    lock = MonthLock(engine, month, holder or holder_description())
    started = time.monotonic()
    logged = False
    while not lock.try_acquire():
        waited = time.monotonic() - started
        if waited >= wait:
            raise SendInProgress(month, current_holder(engine, month), waited)
        if not logged:
            log.info("send %s: another send holds the month (%s); waiting up to %.0f s",
                     month, current_holder(engine, month), wait)
            logged = True
        time.sleep(min(POLL_SECONDS, max(wait - waited, 0.01)))
    try:
        yield lock
    finally:
        lock.release()
