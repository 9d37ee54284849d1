"""``warehouse.transaction(engine, bulk=...)``: on SQLite, large frames go in through Arrow
(ADBC's ingest into an attached staging database, then one INSERT … SELECT inside the
transaction). What is stored must be exactly what executemany stores — every value and its
SQLite storage class — and the transaction must stay one transaction (issue 17)."""
from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supervision import pipeline
from supervision import warehouse as wh
from tests.fixtures.runs import month_settings, warehouse_env

_TABLE = """CREATE TABLE IF NOT EXISTS awkward (
    report_month TEXT NOT NULL,
    t TEXT, i INTEGER, b BIGINT, r DOUBLE PRECISION, n BOOLEAN, o TEXT, x INTEGER, z TEXT
)"""


def _awkward(n: int = 60) -> pd.DataFrame:
    """Values whose storage differs easily between two drivers."""
    texts = ["甲", "", None, "a\x00b", "😀 emoji", "  edge  ", "'; DROP TABLE x; --", "=1+1",
             "\u200b", "長" * 300]
    floats = [0.0, -0.0, 3.0, 2.5, math.nan, math.inf, -math.inf, 2.0**60, 1e-310, 0.1]
    ints = [0, -1, 2**62, None, 7, 8, 9, -2**63, 2**63 - 1, 5]
    k = np.arange(n)
    return pd.DataFrame({
        "report_month": ["2020-06"] * n,
        "t": pd.array([texts[i % len(texts)] for i in k], dtype="str"),
        "i": pd.array([ints[i % len(ints)] for i in k], dtype="Int64"),
        "b": k.astype(np.int64) * 10**12,
        "r": np.array([floats[i % len(floats)] for i in k]),
        "n": pd.array([[True, False, None][i % 3] for i in k], dtype="boolean"),
        "o": pd.Series([["x", None, "y"][i % 3] for i in k], dtype=object),
        "x": pd.Series([float(i) if i % 4 else math.nan for i in k]),   # whole floats, gaps
        "z": pd.Series([None] * n, dtype=object)})


def _stored(path: Path, table: str, order: str) -> list[tuple]:
    with sqlite3.connect(path) as c:
        columns = [r[1] for r in c.execute(f"PRAGMA table_info({table})")]
        select = ", ".join(f"typeof({x}), {x}" for x in columns)
        rows = c.execute(f"SELECT {select} FROM {table} ORDER BY {order}").fetchall()
    # NaN never reaches SQLite (NULL); compare floats by their bits so that -0.0 ≠ 0.0
    return [tuple(repr(v) if isinstance(v, float) else v for v in row) for row in rows]


def _load(path: Path, table: str, frame: pd.DataFrame, bulk: bool, ddl: str | None = None) -> None:
    engine = wh.connect(f"sqlite:///{path}")
    if ddl:
        with engine.begin() as conn:
            conn.exec_driver_sql(ddl)
    with wh.transaction(engine, bulk={table: frame} if bulk else None) as conn:
        wh.replace_month(conn, table, "2020-06", frame)


@pytest.fixture()
def bulk_always(monkeypatch):
    monkeypatch.setattr(wh, "BULK_ROWS", 1)


@pytest.fixture()
def no_executemany(monkeypatch):
    """Fails the test when a frame is turned into Python tuples (the executemany path)."""
    def refuse(frame):
        raise AssertionError(f"executemany path used for {len(frame)} rows")
    monkeypatch.setattr(wh, "_tuples", refuse)


def test_awkward_values_are_stored_alike_both_ways(tmp_path, bulk_always, monkeypatch):
    frame = _awkward()
    _load(tmp_path / "rows.db", "awkward", frame, bulk=False, ddl=_TABLE)
    with monkeypatch.context() as mp:
        mp.setattr(wh, "_tuples", lambda f: pytest.fail("executemany path used"))
        _load(tmp_path / "arrow.db", "awkward", frame, bulk=True, ddl=_TABLE)
    rows = _stored(tmp_path / "rows.db", "awkward", "rowid")
    assert rows == _stored(tmp_path / "arrow.db", "awkward", "rowid")
    assert len(rows) == len(frame)
    # the cases that matter are in there (columns: typeof and value of report_month, t, i, b, r,
    # n, o, x, z): whole floats into INTEGER stored as integers, infinities, NUL, NULL, booleans
    def column(k: int) -> set:
        return {(r[2 * k], r[2 * k + 1]) for r in rows}
    assert ("integer", 1) in column(7) and ("null", None) in column(7)
    assert {("real", "inf"), ("real", "2.5"), ("real", "3.0")} <= column(4)
    assert ("text", "a\x00b") in column(1)
    assert column(8) == {("null", None)}
    assert column(5) == {("integer", 1), ("integer", 0), ("null", None)}


def test_a_frame_arrow_cannot_carry_exactly_goes_in_as_before(tmp_path, bulk_always):
    """Floats into a TEXT column ('3' from executemany, '3.0' from Arrow), mixed objects, dates
    and integers past 64 bits are not staged: the same rows still arrive, through executemany."""
    frames = {
        "float into text": _awkward().assign(t=np.arange(60) * 1.0),
        "mixed objects": _awkward().assign(o=pd.Series([1, "a", 2.5] * 20, dtype=object)),
        "timestamps": _awkward().assign(o=pd.Series(pd.date_range("2020-01-01", periods=60))
                                        .astype(str).astype(object)),
        "unsigned 64": _awkward().assign(b=np.arange(60, dtype=np.uint64)),
    }
    engine = wh.connect(f"sqlite:///{tmp_path / 'probe.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(_TABLE)
    with engine.connect() as conn:
        text_columns = wh._text_columns(conn, "awkward")
    assert text_columns == {"report_month", "t", "o", "z"}
    assert wh._arrow_table(frames["float into text"], text_columns) is None
    assert wh._arrow_table(frames["mixed objects"], text_columns) is None
    assert wh._arrow_table(frames["unsigned 64"], text_columns) is None
    assert wh._arrow_table(_awkward(), text_columns) is not None
    for label, frame in frames.items():
        a, b = tmp_path / f"{label}-rows.db", tmp_path / f"{label}-arrow.db"
        _load(a, "awkward", frame, bulk=False, ddl=_TABLE)
        _load(b, "awkward", frame, bulk=True, ddl=_TABLE)
        assert _stored(a, "awkward", "rowid") == _stored(b, "awkward", "rowid"), label


def test_the_transaction_stays_one_transaction(tmp_path, bulk_always, no_executemany):
    path = tmp_path / "w.db"
    frame = _awkward()
    _load(path, "awkward", frame, bulk=True, ddl=_TABLE)
    before = _stored(path, "awkward", "rowid")
    engine = wh.connect(f"sqlite:///{path}")
    staging: list[Path] = []
    changed = frame.assign(t="changed")
    with pytest.raises(RuntimeError, match="stage fails"):
        with wh.transaction(engine, bulk={"awkward": changed}) as conn:
            staging.extend(Path(r[2]) for r in conn.exec_driver_sql("PRAGMA database_list")
                           if r[1] == "bulk_stage")
            wh.replace_month(conn, "awkward", "2020-06", changed)
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM awkward WHERE t = 'changed'"
                                        ).scalar_one() == len(frame)
            raise RuntimeError("the stage fails after the insert")
    assert _stored(path, "awkward", "rowid") == before     # nothing of it landed
    assert staging and not staging[0].exists()                # the staging file is gone
    # the pooled connection was detached: the next bulk transaction attaches again
    with wh.transaction(engine, bulk={"awkward": changed}) as conn:
        wh.replace_month(conn, "awkward", "2020-06", changed)
    assert {r[3] for r in _stored(path, "awkward", "rowid")} == {"changed"}
    with engine.connect() as conn:
        assert [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]


def test_a_frame_not_named_in_bulk_is_inserted_row_wise(tmp_path, bulk_always):
    path = tmp_path / "w.db"
    frame = _awkward()
    _load(path, "awkward", frame, bulk=False, ddl=_TABLE)
    engine = wh.connect(f"sqlite:///{path}")
    other = frame.assign(t="other")       # same table, another frame than the staged one
    with wh.transaction(engine, bulk={"awkward": frame}) as conn:
        wh.replace_month(conn, "awkward", "2020-06", other)
    assert {r[3] for r in _stored(path, "awkward", "rowid")} == {"other"}


def test_small_frames_are_not_staged(tmp_path, monkeypatch):
    monkeypatch.setattr(wh, "_stage_frames", lambda *a: pytest.fail("staged a small frame"))
    _load(tmp_path / "w.db", "awkward", _awkward(), bulk=True, ddl=_TABLE)
    assert len(_stored(tmp_path / "w.db", "awkward", "rowid")) == 60


def test_a_month_loads_the_same_warehouse_rows_both_ways(sample_landing, tmp_path, monkeypatch):
    """The quality stage of June, after May, with every frame staged and with none: the
    warehouse tables it writes are equal value for value and type for type."""
    stored = {}
    for label, rows in (("arrow", 1), ("rows", 10**9)):
        monkeypatch.setattr(wh, "BULK_ROWS", rows)
        path = tmp_path / f"{label}.db"
        with warehouse_env(f"sqlite:///{path}"):
            s = month_settings(sample_landing, tmp_path / f"out-{label}")
            pipeline.ingest(s)
            pipeline.check_quality(s)
        stored[label] = {
            table: _stored(path, table, order) for table, order in (
                ("monthly_records", "report_month, source_row"),
                ("quality_findings", "report_month, seq"),
                ("quarantine", "report_month, source_row"),
                ("plan_communities", "plan_key"), ("targets", "city"))}
    assert stored["arrow"]["monthly_records"], "the month loaded no records"
    for table in stored["rows"]:
        assert stored["arrow"][table] == stored["rows"][table], table
