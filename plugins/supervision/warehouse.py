"""The supervision warehouse: SQLAlchemy on SQLite (embedded default) or PostgreSQL.

The DDL and every query live in ``include/sql/`` (one statement per file). A month's rows are
replaced whole inside one transaction, so a rerun never duplicates and a failed run leaves the
previous state.
"""
from __future__ import annotations

import math
import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text

from . import paths

MONTH_TABLES = ("monthly_records", "quality_findings", "quarantine", "city_figures",
                "overdue_items")


@lru_cache(maxsize=None)
def sql(name: str) -> str:
    """The text of ``include/sql/<name>.sql``."""
    path = paths.sql_dir() / f"{name}.sql"
    return path.read_text(encoding="utf-8")


def ddl_statements() -> list[tuple[str, str]]:
    folder = paths.sql_dir() / "ddl"
    return [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.sql"))]


@lru_cache(maxsize=None)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def connect(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: ``SUPERVISION_WAREHOUSE_URL`` or the local SQLite file),
    with the schema created if it is not there yet."""
    engine = _engine(url or paths.default_warehouse_url())
    create_schema(engine)
    return engine


_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
_COLUMN = re.compile(r"^\s+(\w+)\s+(?:TEXT|INTEGER|BIGINT|BOOLEAN|DOUBLE)\b", re.MULTILINE)


class SchemaError(RuntimeError):
    """The warehouse holds a table created by an older version of the DDL."""


def create_schema(engine: Engine) -> None:
    """Create the tables that are missing; refuse a table that lacks a column of the DDL (a
    warehouse created by an older version: CREATE TABLE IF NOT EXISTS would not add it)."""
    with engine.begin() as conn:
        for _name, statement in ddl_statements():
            conn.execute(text(statement))
        inspector = inspect(conn)
        for _name, statement in ddl_statements():
            table = _CREATE.search(statement)
            if not table:
                continue
            have = {c["name"] for c in inspector.get_columns(table.group(1))}
            missing = [c for c in _COLUMN.findall(statement) if c not in have]
            if missing:
                raise SchemaError(
                    f"warehouse table {table.group(1)} lacks the columns {', '.join(missing)}: it "
                    "was created by an older version of include/sql/ddl; recreate the warehouse "
                    "(for the local default: delete var/warehouse.db) or add the columns")


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        yield conn


def _clean(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as a list of dicts with None for missing values and Python scalars."""
    cols = list(frame.columns)
    return [{c: _clean(v) for c, v in zip(cols, row)}
            for row in frame.itertuples(index=False, name=None)]


def insert(conn: Connection, table: str, rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
    rows = records(rows) if isinstance(rows, pd.DataFrame) else list(rows)
    if not rows:
        return 0
    cols = list(rows[0])
    statement = text(f"INSERT INTO {table} ({', '.join(cols)}) "
                     f"VALUES ({', '.join(':' + c for c in cols)})")
    conn.execute(statement, rows)
    return len(rows)


def delete_month(conn: Connection, table: str, month: str) -> None:
    conn.execute(text(f"DELETE FROM {table} WHERE report_month = :m"), {"m": month})


def replace_month(conn: Connection, table: str, month: str,
                  rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
    delete_month(conn, table, month)
    return insert(conn, table, rows)


def replace_year(conn: Connection, table: str, year: int,
                 rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
    conn.execute(text(f"DELETE FROM {table} WHERE programme_year = :y"), {"y": year})
    return insert(conn, table, rows)


def frame(conn_or_engine: Connection | Engine, statement: str, **params: Any) -> pd.DataFrame:
    """The result of one SQL statement as a frame."""
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return frame(conn, statement, **params)
    result = conn_or_engine.execute(text(statement), params)
    # object dtype keeps the database's values as they are (None stays None, ints stay ints)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)


def query(conn_or_engine: Connection | Engine, name: str, **params: Any) -> pd.DataFrame:
    """Run ``include/sql/<name>.sql`` with bound parameters; the result as a frame."""
    return frame(conn_or_engine, sql(name), **params)


def read_month(conn_or_engine: Connection | Engine, table: str, month: str) -> pd.DataFrame:
    return frame(conn_or_engine, f"SELECT * FROM {table} WHERE report_month = :m", m=month)
