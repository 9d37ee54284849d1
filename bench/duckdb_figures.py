"""The figures' SQL and a warehouse load on DuckDB beside SQLite, for the embedded-warehouse
decision of issue 17 (docs/benchmarks.md, eighth part). Not part of `make bench`: DuckDB is not
a dependency of the product. To rerun it, with the versions measured:

    .venv/bin/uv pip install --target /tmp/duckdb-pkgs --no-deps duckdb==2.0.1 duckdb-engine==0.17.0
    PYTHONPATH=plugins:/tmp/duckdb-pkgs .venv/bin/python bench/duckdb_figures.py \\
        bench/data/300000-csv-run/warehouse.db 2020-06

It computes the month's figures on the SQLite warehouse of a bench run (`compute_month_figures`,
rolled back), recording every figure query with its parameters and result; copies every table
into a new DuckDB file (the product's DDL, each frame inserted through DuckDB's scan of the
pandas frame); then runs each recorded query on DuckDB through SQLAlchemy and compares its rows
with SQLite's (as text, in the order returned)."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main(source: Path, month_text: str) -> None:
    import duckdb
    import pandas as pd
    import sqlalchemy as sa

    from supervision import pipeline
    from supervision import warehouse as wh
    from supervision.config import programme_for_month
    from supervision.months import Month

    month = Month.parse(month_text)
    programme = programme_for_month(month)
    lite = sa.create_engine(f"sqlite:///{source}")
    calls = []
    query = wh.query

    def recording(conn, name, **params):
        started = time.perf_counter()
        out = query(conn, name, **params)
        calls.append((name, params, time.perf_counter() - started, out))
        return out

    wh.query = recording
    started = time.perf_counter()
    with lite.connect() as conn:
        transaction = conn.begin()
        pipeline.compute_month_figures(conn, programme, month)
        transaction.rollback()
    wh.query = query
    print(f"SQLite compute_month_figures (queries and stores, rolled back): "
          f"{time.perf_counter() - started:.2f} s")

    with lite.connect() as conn:
        names = [r[0] for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        frames = {name: pd.read_sql(f"SELECT * FROM {name}", conn) for name in names}
    folder = Path(tempfile.mkdtemp(prefix="duckdb-figures-"))
    path = folder / "warehouse.duckdb"
    raw = duckdb.connect(str(path))
    for ddl, statement in wh.ddl_statements():
        try:
            raw.execute(statement)
        except duckdb.Error as exc:
            print(f"DDL {ddl} refused by DuckDB: {str(exc).splitlines()[0]}")
    started = time.perf_counter()
    for name, frame in frames.items():
        columns = [r[0] for r in raw.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
            [name]).fetchall()]
        if not columns or frame.empty:
            continue
        kept = [c for c in frame.columns if c in columns]
        one = time.perf_counter()
        raw.register("frame_in", frame[kept])
        raw.execute(f"INSERT INTO {name} ({', '.join(kept)}) SELECT {', '.join(kept)} FROM frame_in")
        raw.unregister("frame_in")
        if len(frame) >= 20_000:
            print(f"  DuckDB insert {name}: {len(frame):,} rows {time.perf_counter() - one:.2f} s")
    raw.close()
    print(f"DuckDB insert of every table ({sum(map(len, frames.values())):,} rows): "
          f"{time.perf_counter() - started:.2f} s")

    duck = sa.create_engine(f"duckdb:///{path}")
    total_lite = total_duck = 0.0
    with duck.connect() as conn:
        for name, params, seconds, expected in calls:
            one = time.perf_counter()
            got = query(conn, name, **params)
            took = time.perf_counter() - one
            total_lite, total_duck = total_lite + seconds, total_duck + took
            same = got.shape == expected.shape and all(
                got[c].astype(str).tolist() == expected[c].astype(str).tolist()
                for c in expected.columns)
            differs = ""
            if not same and got.shape == expected.shape:
                for c in expected.columns:
                    a, b = expected[c].astype(str).tolist(), got[c].astype(str).tolist()
                    if a != b:
                        if sorted(a) == sorted(b):
                            differs = f" ({c}: same values, another order)"
                        else:
                            i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
                            differs = f" ({c}: {a[i]!r} on SQLite, {b[i]!r} on DuckDB)"
                        break
            print(f"{name:34s} SQLite {seconds:5.2f} s  DuckDB {took:5.2f} s  "
                  f"{len(expected):7,} rows  same: {same}{differs}")
    print(f"figure queries: SQLite {total_lite:.2f} s, DuckDB {total_duck:.2f} s")
    duck.dispose()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
