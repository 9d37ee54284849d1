"""The month's load begun before its quality results (pipeline.MonthLoad): the rows it leaves
are the ones the load after the rules leaves, and an error on either side rolls it all back."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from supervision import pipeline, quality
from supervision import warehouse as wh
from tests.fixtures.runs import month_settings, warehouse_env

TABLES = ("monthly_records", "quality_findings", "quarantine", "month_loads")


def _rows(url: str, month: str = "2020-06") -> dict[str, list[tuple]]:
    """Every row of the month's tables, with SQLite's storage class of each value (a 0 and a
    False, a 1 and a '1' differ there)."""
    engine = wh.connect(url)
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            names = [r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({table})")]
            typed = ", ".join(f"{n}, typeof({n})" for n in names)
            order = "source_row" if table != "month_loads" else "report_month"
            if table == "quality_findings":
                order = "seq"
            out[table] = conn.execute(text(f"SELECT {typed} FROM {table} WHERE report_month = :m "
                                           f"ORDER BY {order}"), {"m": month}).fetchall()
    engine.dispose()
    return out


@pytest.fixture()
def loaded(sample_landing, tmp_path):
    """The sample's June ingested, and loaded once the usual way (its rows kept)."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    with warehouse_env(url):
        s = month_settings(sample_landing, tmp_path / "out")
        pipeline.ingest(s)
        pipeline.check_quality(s)
        yield s, url, _rows(url)


@pytest.fixture()
def early(monkeypatch):
    """The load begun in its thread at the sample's size (a month of 20,000 records or more
    otherwise); records which thread wrote the records."""
    monkeypatch.setattr(wh, "BULK_ROWS", 1)
    threads: list[str] = []
    begin = pipeline.MonthLoad._begin

    def recorded(self):
        threads.append(threading.current_thread().name)
        return begin(self)

    monkeypatch.setattr(pipeline.MonthLoad, "_begin", recorded)
    return threads


def test_the_early_load_leaves_the_rows_the_load_after_the_rules_leaves(loaded, early):
    s, url, before = loaded
    assert sum(1 for r in before["monthly_records"] if r[-2] == 0) > 0     # some invalid rows
    assert any(r for r in before["monthly_records"] if r[-4] is not None)  # some plan mismatch
    pipeline.check_quality(s)
    assert early and all(name.startswith("month-load") for name in early)
    assert _rows(url) == before


def test_an_error_in_the_rules_rolls_the_early_load_back(loaded, early, monkeypatch):
    s, url, before = loaded
    evaluate = quality.evaluate

    def failing(*args, **kwargs):
        evaluate(*args, **kwargs)
        time.sleep(0.2)  # the records written meanwhile, validity pending
        raise ValueError("a rule broke")

    monkeypatch.setattr(quality, "evaluate", failing)
    with pytest.raises(ValueError, match="a rule broke"):
        pipeline.check_quality(s)
    assert early
    assert _rows(url) == before
    monkeypatch.setattr(quality, "evaluate", evaluate)
    pipeline.check_quality(s)   # nothing left locked or attached
    assert _rows(url) == before


def test_an_error_in_the_early_load_is_raised_and_nothing_changes(loaded, early, monkeypatch):
    s, url, before = loaded
    replace = wh.replace_month

    def failing(conn, table, month, rows):
        if table == "monthly_records":
            raise RuntimeError("disk full")
        return replace(conn, table, month, rows)

    monkeypatch.setattr(wh, "replace_month", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.check_quality(s)
    assert _rows(url) == before


def test_a_load_left_without_finish_is_rolled_back(loaded):
    s, url, before = loaded
    engine = wh.connect(url)
    staged = pipeline._staged(s)
    with pytest.raises(RuntimeError, match="without finish"):
        with pipeline.MonthLoad(engine, pipeline.programme_for_month(s.report_month),
                                s.report_month, *staged[1:]) as load:
            load._begin()
    with pytest.raises(RuntimeError, match="before its finish"):
        pipeline.MonthLoad(engine, pipeline.programme_for_month(s.report_month),
                           s.report_month, *staged[1:]).commit()
    assert _rows(url) == before
