"""The supervision warehouse: SQLAlchemy on SQLite (embedded default) or PostgreSQL.

The DDL and every query live in ``include/sql/`` (one statement per file). A month's rows are
replaced whole inside one transaction, so a rerun never duplicates and a failed run leaves the
previous state.
"""
from __future__ import annotations

import math
import re
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
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
def transaction(engine: Engine, bulk: dict[str, pd.DataFrame] | None = None) -> Iterator[Connection]:
    """One transaction on ``engine``.

    On SQLite, the frames in ``bulk`` ({table: frame}) that :func:`insert` will append to
    those tables in it (the month's records, findings, …) are first written through Arrow into
    a staging database (ADBC's bulk ingest, no Python value per cell), which is attached to the
    connection before the transaction begins (SQLite cannot ATTACH inside one); :func:`insert`
    then copies each of them with one ``INSERT … SELECT`` inside the transaction, so the month
    still changes all at once or not at all. The frames are staged as they are when the
    transaction opens: do not change them afterwards. A frame that Arrow cannot carry exactly,
    a small frame, and every frame on PostgreSQL (COPY) go in as before. The staging file (in
    the temporary directory) is deleted when the transaction ends."""
    staged = {t: f for t, f in (bulk or {}).items() if len(f) >= BULK_ROWS}
    if engine.dialect.name != "sqlite" or not staged:
        with engine.begin() as conn:
            yield conn
        return
    with tempfile.TemporaryDirectory(prefix="warehouse-bulk-") as folder, \
            engine.connect() as conn:
        stage = Path(folder) / "stage.db"
        names = _stage_frames(conn, stage, staged)
        attached = False
        try:
            if names:
                conn.exec_driver_sql(f"ATTACH DATABASE ? AS {_STAGE}", (str(stage),))
                conn.commit()  # SQLAlchemy's autobegun transaction (SQLite has none open)
                attached = True
                conn.info[_STAGE] = names
            with conn.begin():
                yield conn
        finally:
            conn.info.pop(_STAGE, None)
            if attached:
                if conn.in_transaction():
                    conn.rollback()
                conn.exec_driver_sql(f"DETACH DATABASE {_STAGE}")
                conn.commit()


#: a frame of at least this many rows, named to :func:`transaction`'s ``bulk``, goes into SQLite
#: through Arrow instead of executemany (below it the staging costs more than it saves)
BULK_ROWS = 20_000
_STAGE = "bulk_stage"


def _arrow_table(frame: pd.DataFrame, text_columns: set[str]) -> Any:
    """``frame`` as an Arrow table that SQLite stores exactly as executemany stores its
    :func:`_python_column` values — or None when it cannot be (then executemany is used):
    a column of another type (dates, decimals, mixed objects, integers past 64 bits), or a
    float column going into a TEXT column (executemany sends whole floats as ints, "3" not
    "3.0"; INTEGER, NUMERIC and REAL columns store both alike)."""
    import pyarrow as pa

    columns = []
    for name in frame.columns:
        series = frame[name]
        try:
            array = pa.array(series, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return None
        kind = array.type
        if not (pa.types.is_signed_integer(kind) or pa.types.is_floating(kind)
                or pa.types.is_boolean(kind) or pa.types.is_string(kind)
                or pa.types.is_large_string(kind) or pa.types.is_null(kind)
                or (pa.types.is_unsigned_integer(kind) and kind.bit_width < 64)):
            return None  # dates, decimals, binary, categories, uint64 past int64
        if pa.types.is_floating(array.type) and name in text_columns:
            return None
        if pa.types.is_null(array.type):
            array = array.cast(pa.string())
        columns.append(array)
    return pa.table(columns, names=[str(n) for n in frame.columns])


def _text_columns(conn: Connection, table: str) -> set[str]:
    """The columns of ``table`` with SQLite's TEXT affinity (its §3.1: a declared type naming
    CHAR, CLOB or TEXT, and not INT)."""
    return {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})").fetchall()
            if (d := (row[2] or "").upper()) and "INT" not in d
            and any(t in d for t in ("CHAR", "CLOB", "TEXT"))}


def _stage_frames(conn: Connection, stage: Path,
                  frames: dict[str, pd.DataFrame]) -> dict[str, tuple[pd.DataFrame, str]]:
    """Write ``frames`` ({table: frame}) into the staging database ``stage`` through ADBC, one
    staging table each; the ones Arrow cannot carry exactly are left out.
    {table: (frame, staging table)}."""
    tables = {}
    for target, frame in frames.items():
        arrow = _arrow_table(frame, _text_columns(conn, target))
        if arrow is not None:
            tables[target] = (frame, f"rows_{len(tables)}", arrow)
    conn.rollback()  # the PRAGMA reads: no transaction stays open on the warehouse
    if not tables:
        return {}
    import adbc_driver_sqlite.dbapi as adbc

    with adbc.connect(str(stage)) as stage_conn:
        with stage_conn.cursor() as cur:
            for target, (_frame, name, arrow) in list(tables.items()):
                try:
                    cur.adbc_ingest(name, arrow, mode="create")
                except adbc.Error:  # a type the driver does not take: executemany then
                    del tables[target]
        stage_conn.commit()
    return {key: (frame, name) for key, (frame, name, _arrow) in tables.items()}


def _clean(value: Any) -> Any:
    """A value as the database driver takes it: None for every kind of missing, Python scalars,
    and a whole-number float as an int (pandas widens an integer column with gaps to float;
    PostgreSQL's COPY refuses "3.0" for an INTEGER column, and a REAL column takes 3 as 3.0)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as a list of dicts with None for missing values and Python scalars."""
    cols = list(frame.columns)
    return [dict(zip(cols, row)) for row in _tuples(frame)]


def _floats(values: np.ndarray) -> np.ndarray:
    """Floats as the driver takes them (see :func:`_clean`): NaN → None, whole numbers → int."""
    out = values.astype(object)
    missing = np.isnan(values)
    out[missing] = None
    whole = ~missing & (values == np.trunc(values)) & (np.abs(values) < 2**53)
    out[whole] = values[whole].astype(np.int64).astype(object)
    return out


def _python_column(series: pd.Series) -> list[Any]:
    """One column as Python values (None for every kind of missing), converted column-wise:
    the same values :func:`_clean` gives cell by cell, without a Python call per cell."""
    dtype = series.dtype
    if isinstance(dtype, pd.Float64Dtype) or (dtype.kind == "f" and not isinstance(dtype, pd.ArrowDtype)):
        return _floats(series.to_numpy(dtype="float64", na_value=np.nan)).tolist()
    if isinstance(dtype, (pd.Int64Dtype, pd.BooleanDtype, pd.StringDtype)) or dtype.kind in "iub":
        return series.to_numpy(dtype=object, na_value=None).tolist()
    return [_clean(v) for v in series.tolist()]


def _tuples(frame: pd.DataFrame) -> list[tuple]:
    return list(zip(*(_python_column(frame[c]) for c in frame.columns))) if len(frame) else []


#: rows of a frame turned into Python tuples and sent at a time (a month's 300,000 records as
#: one list of tuples would be 12 million Python objects at once)
INSERT_BLOCK = 20_000


def insert(conn: Connection, table: str, rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
    """Append rows to ``table``. A frame staged for this transaction (:func:`transaction`'s
    ``bulk``, SQLite) is copied from the staging database; any other frame goes in column-wise
    as tuples, a block of :data:`INSERT_BLOCK` rows at a time: PostgreSQL's COPY, or
    executemany on SQLite."""
    if isinstance(rows, pd.DataFrame):
        if rows.empty:
            return 0
        staged = conn.info.get(_STAGE, {}).get(table)
        if staged is not None and staged[0] is rows:
            names = ", ".join(map(str, rows.columns))
            conn.exec_driver_sql(f"INSERT INTO {table} ({names}) "
                                 f"SELECT {names} FROM {_STAGE}.{staged[1]}")
            return len(rows)
        cols = list(rows.columns)
        blocks: Iterable[list[tuple]] = (_tuples(rows.iloc[first:first + INSERT_BLOCK])
                                         for first in range(0, len(rows), INSERT_BLOCK))
        count = len(rows)
    else:
        dicts = list(rows)
        if not dicts:
            return 0
        cols = list(dicts[0])
        blocks = [[tuple(_clean(d.get(c)) for c in cols) for d in dicts]]
        count = len(dicts)
    names = ", ".join(cols)
    if conn.dialect.name == "postgresql":
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for block in blocks:
                for row in block:
                    copy.write_row(row)
    else:
        placeholders = ", ".join("?" if conn.dialect.paramstyle == "qmark" else "%s" for _ in cols)
        for block in blocks:
            conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", block)
    return count


def delete_month(conn: Connection, table: str, month: str) -> None:
    conn.execute(text(f"DELETE FROM {table} WHERE report_month = :m"), {"m": month})


def replace_month(conn: Connection, table: str, month: str,
                  rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
    delete_month(conn, table, month)
    return insert(conn, table, rows)


def replace_year(conn: Connection, table: str, year: int,
                 rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
    conn.execute(text(f"DELETE FROM {table} WHERE programme_year = :y"), {"y": year})
    # whatever fingerprint the year had no longer describes its rows
    conn.execute(text("DELETE FROM year_loads WHERE programme_year = :y AND table_name = :t"),
                 {"y": year, "t": table})
    return insert(conn, table, rows)


class _Hashing:
    """A write-only file that feeds what is written to a hash."""

    closed = False

    def __init__(self, h: Any) -> None:
        self._h = h

    def write(self, data: Any) -> int:
        self._h.update(data)
        return len(memoryview(data))

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True


def fingerprint(rows: pd.DataFrame) -> str:
    """A SHA-256 of a frame's contents, column names and types (its row order included): of
    its Arrow IPC stream when Arrow carries the frame (0.1 s for a 300,000-row plan, where
    pandas' row hashes took 1.5 s), else of pandas' hashes of each column."""
    import hashlib

    import pyarrow as pa

    h = hashlib.sha256()
    try:
        # without pandas' schema metadata (its version)
        table = pa.Table.from_pandas(rows, preserve_index=False).replace_schema_metadata(None)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        table = None
    if table is not None:
        h.update(b"arrow-ipc:")
        h.update(",".join(f"{name}:{rows[name].dtype}" for name in rows.columns).encode())
        with pa.ipc.new_stream(_Hashing(h), table.schema) as writer:
            writer.write_table(table, max_chunksize=65_536)  # the stream hashed, never held
        return h.hexdigest()
    for name in rows.columns:
        column = rows[name]
        h.update(f"{name}:{column.dtype}:".encode())
        h.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
    return h.hexdigest()


def year_rows_changed(conn: Connection, table: str, year: int, rows: pd.DataFrame,
                      mark: str | None = None) -> bool:
    """False when the year's rows in ``table`` are the ones last written from a frame with the
    same fingerprint as ``rows`` (``year_loads``) and are all still there."""
    mark = mark or fingerprint(rows)
    stored = conn.execute(text("SELECT fingerprint, row_count FROM year_loads WHERE "
                               "programme_year = :y AND table_name = :t"),
                          {"y": year, "t": table}).fetchone()
    if stored is not None and stored[0] == mark and stored[1] == len(rows):
        present = conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE programme_year = :y"),
                               {"y": year}).scalar_one()
        if present == len(rows):
            return False
    return True


def replace_year_if_changed(conn: Connection, table: str, year: int, rows: pd.DataFrame,
                            mark: str | None = None) -> bool:
    """:func:`replace_year`, skipped when the year's rows are unchanged
    (:func:`year_rows_changed`; ``mark``: their fingerprint, when already computed). True when
    the rows were written."""
    mark = mark or fingerprint(rows)
    if not year_rows_changed(conn, table, year, rows, mark):
        return False
    replace_year(conn, table, year, rows)
    insert(conn, "year_loads", [{"programme_year": year, "table_name": table,
                                 "fingerprint": mark, "row_count": len(rows)}])
    return True


def frame(conn_or_engine: Connection | Engine, statement: str, **params: Any) -> pd.DataFrame:
    """The result of one SQL statement as a frame."""
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return frame(conn, statement, **params)
    result = conn_or_engine.execute(text(statement), params)
    columns = list(result.keys())
    # the driver's own tuples (building the frame from SQLAlchemy Row objects is ~10× slower);
    # object dtype keeps the database's values as they are (None stays None, ints stay ints)
    rows = result.cursor.fetchall() if result.returns_rows else []
    return pd.DataFrame(rows, columns=columns, dtype=object)


#: the ``Connection.info`` key of the queries run ahead for a connection's stage, in a second
#: process (:class:`supervision.prefetch.Prefetch`): :func:`query` takes a result from there
#: when one was run for the same name and parameters
PREFETCHED = "supervision.prefetched"


def query(conn_or_engine: Connection | Engine, name: str, **params: Any) -> pd.DataFrame:
    """Run ``include/sql/<name>.sql`` with bound parameters; the result as a frame (or the same
    query's result run ahead, see :data:`PREFETCHED`)."""
    if isinstance(conn_or_engine, Connection):
        ahead = conn_or_engine.info.get(PREFETCHED)
        if ahead is not None:
            found = ahead.take(name, params)
            if found is not None:
                return found
    return frame(conn_or_engine, sql(name), **params)


def read_month(conn_or_engine: Connection | Engine, table: str, month: str,
               columns: Iterable[str] | None = None) -> pd.DataFrame:
    """The rows of ``month`` in ``table``: every column, or only ``columns``."""
    names = ", ".join(columns) if columns is not None else "*"
    return frame(conn_or_engine, f"SELECT {names} FROM {table} WHERE report_month = :m", m=month)
