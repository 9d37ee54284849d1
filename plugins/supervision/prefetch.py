"""A large month's figure queries run ahead, in a second process (issue 17).

The figures stage computes its tables one after another in one transaction: each is a query
of the loaded month (SQLite or PostgreSQL working on one core), a little Python, an insert.
The queries read only what the quality stage loaded (``monthly_records``, the plan, the
targets, ``quarantine``), never the tables the stage writes, so for a month of at least
:func:`supervision.processes.side_process_rows` accepted rows they are all given at once to a
spawned process with its own connection to the warehouse, which runs them in order while this
process stores and writes the tables before them. :func:`supervision.warehouse.query` takes a
result from here when the same query (name and parameters) was run ahead; any other query,
and every query of a smaller month, runs in the stage's own connection as before.

The results are the same rows either way (the same statement on the same committed data), and
the stage orders every table itself. What could make them differ is a writer between the two
reads, which the monthly DAG rules out (``max_active_runs=1``, ``make run``'s lock); as a guard,
the side process reads the month's ``month_loads`` row with each query, and a result whose row
differs from the one the stage read when it began is not used: the query runs again here, with
a warning. So does a query whose process was lost (killed, out of memory); an error of the
query itself is raised here, as it would have been."""
from __future__ import annotations

import logging
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Iterator

import pandas as pd
from sqlalchemy import Connection, Engine

from . import processes
from . import warehouse as wh

log = logging.getLogger(__name__)

#: a query as the stage runs it: the name of its file under include/sql and its parameters
Query = tuple[str, dict[str, Any]]


def _key(name: str, params: dict[str, Any]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    return name, tuple(sorted(params.items()))


def _load_mark(conn_or_engine: Connection | Engine, month: str) -> list[dict[str, Any]]:
    return wh.records(wh.read_month(conn_or_engine, "month_loads", month))


def run_ahead(url: str, name: str, params: dict[str, Any],
              month: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """In the side process: one query, and the month's ``month_loads`` row read beside it."""
    engine = wh._engine(url)  # noqa: SLF001 - the stage's engine, made again in this process
    with engine.connect() as conn:
        rows = wh.query(conn, name, **params)
        mark = _load_mark(conn, month)
    return rows, mark


class Prefetch:
    """The stage's ``queries`` (in the order it runs them) given to a side process for a month
    of ``rows`` accepted rows; nothing is run ahead for a smaller month. On a connection
    :meth:`attached`, :func:`supervision.warehouse.query` takes the results."""

    def __init__(self, engine: Engine, month: str, rows: int, queries: list[Query],
                 name: str = "figures queries") -> None:
        self.name = name
        self.month = month
        self._ahead: dict[Any, Future] = {}
        self.taken = 0
        self._pool = processes.side_process(rows, name, "every query runs in the stage's process")
        if self._pool is None:
            return
        self._mark = _load_mark(engine, month)
        url = engine.url.render_as_string(hide_password=False)
        for query_name, params in queries:
            self._ahead[_key(query_name, params)] = self._pool.submit(
                run_ahead, url, query_name, params, month)

    @property
    def uses_process(self) -> bool:
        return self._pool is not None

    @contextmanager
    def attached(self, conn: Connection) -> Iterator[Connection]:
        """``conn`` with :func:`supervision.warehouse.query` taking the results run ahead,
        while the block runs (``Connection.info`` belongs to the pooled DBAPI connection: it
        is cleared before the connection goes back to the pool)."""
        if self._pool is None:
            yield conn
            return
        conn.info[wh.PREFETCHED] = self
        try:
            yield conn
        finally:
            conn.info.pop(wh.PREFETCHED, None)

    def take(self, name: str, params: dict[str, Any]) -> pd.DataFrame | None:
        """The result of ``name`` with ``params`` run ahead (once), or None: run it yourself."""
        future = self._ahead.pop(_key(name, params), None)
        if future is None:
            return None
        try:
            rows, mark = future.result()
        except BrokenProcessPool as exc:
            log.warning("%s: the side process was lost (%s); %s runs in this process",
                        self.name, exc, name)
            return None
        if mark != self._mark:
            log.warning("%s: %s was loaded again while %s ran ahead; it runs again in this "
                        "process", self.name, self.month, name)
            return None
        self.taken += 1
        return rows

    def close(self, failed: bool = False) -> None:
        """Stop the side process (its queries not yet taken are dropped); after a stage that
        did not fail, a query run ahead and never taken is warned about (its parameters
        differ from the stage's: the stage ran it itself)."""
        if self._pool is None:
            return
        log.info("%s: %d of %d run ahead in a side process", self.name, self.taken,
                 self.taken + len(self._ahead))
        if self._ahead and not failed:
            log.warning("%s: %d queries run ahead were not used: %s", self.name,
                        len(self._ahead), ", ".join(sorted(k[0] for k in self._ahead)))
        self._ahead.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Prefetch":
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(failed=kind is not None)
