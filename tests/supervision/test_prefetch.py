"""A large month's figure queries run ahead in a second process (supervision.prefetch)."""
from __future__ import annotations

import logging
import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from supervision import pipeline, prefetch, processes
from supervision import warehouse as wh
from supervision.config import programme_for_month
from supervision.months import Month
from tests.fixtures.runs import month_settings, warehouse_env

MONTH = Month.parse("2020-06")


@pytest.fixture(scope="module")
def loaded(sample_landing, tmp_path_factory):
    """A warehouse with the sample's June loaded (ingest and quality, no figures yet)."""
    out = tmp_path_factory.mktemp("prefetch")
    url = f"sqlite:///{out / 'warehouse.db'}"
    with warehouse_env(url):
        s = month_settings(sample_landing, out)
        pipeline.ingest(s)
        pipeline.check_quality(s)
    return wh.connect(url)


@pytest.fixture
def forced(monkeypatch):
    """The side process at the sample's size (a month of 100,000 rows or more gets it)."""
    monkeypatch.setenv("SUPERVISION_SIDE_PROCESS_ROWS", "1")
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)


def _queries():
    return pipeline._queries_ahead(programme_for_month(MONTH), MONTH)  # noqa: SLF001


def _inline(engine, queries):
    with engine.connect() as conn:
        return [wh.query(conn, name, **params) for name, params in queries]


def _equal(a, b):
    assert list(a.columns) == list(b.columns)
    assert a.astype(str).values.tolist() == b.astype(str).values.tolist()


def test_the_queries_run_ahead_give_the_rows_the_stage_would_read(loaded, forced, caplog):
    queries = _queries()
    assert [q[0] for q in queries] == ["figures/overdue_items", "figures/start_pace",
                                       "figures/spot_check_population",
                                       "figures/basic_category_items", "figures/elevator_works"]
    expected = _inline(loaded, queries)
    assert all(len(e) for e in expected[:1] + expected[2:])   # real rows, not empty lists
    caplog.set_level(logging.INFO, logger="supervision.prefetch")
    with prefetch.Prefetch(loaded, str(MONTH), 1000, queries) as ahead:
        assert ahead.uses_process
        with loaded.connect() as conn, ahead.attached(conn):
            got = [wh.query(conn, name, **params) for name, params in queries]
            # a query not run ahead, or the same one again, runs in the stage's connection
            again = wh.query(conn, *queries[0][:1], **queries[0][1])
            assert conn.info[wh.PREFETCHED] is ahead
        with loaded.connect() as later:   # cleared before the connection went back to the pool
            assert wh.PREFETCHED not in later.info
    for g, e in zip(got, expected):
        _equal(g, e)
    _equal(again, expected[0])
    assert ahead.taken == len(queries)
    assert "figures queries: 5 of 5 run ahead in a side process" in caplog.text
    assert "not used" not in caplog.text


def test_a_small_month_runs_nothing_ahead(loaded, monkeypatch):
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    monkeypatch.delenv("SUPERVISION_SIDE_PROCESS_ROWS", raising=False)
    with prefetch.Prefetch(loaded, str(MONTH), processes.SIDE_PROCESS_MIN_ROWS - 1,
                           _queries()) as ahead:
        assert not ahead.uses_process
        with loaded.connect() as conn, ahead.attached(conn):
            assert wh.PREFETCHED not in conn.info


def test_a_month_loaded_again_meanwhile_is_queried_again_here(loaded, forced, caplog):
    """The guard: the side process's result is used only when it read the same month_loads
    row as the stage did when it began."""
    queries = _queries()[:1]
    with loaded.begin() as conn:
        before = conn.execute(text("SELECT rows_read FROM month_loads WHERE report_month = :m"),
                              {"m": str(MONTH)}).scalar_one()
    try:
        with prefetch.Prefetch(loaded, str(MONTH), 1000, queries) as ahead:
            with loaded.begin() as conn:   # another load of the month, after the stage began
                conn.execute(text("UPDATE month_loads SET rows_read = rows_read + 1 "
                                  "WHERE report_month = :m"), {"m": str(MONTH)})
            with loaded.connect() as conn, ahead.attached(conn):
                got = wh.query(conn, queries[0][0], **queries[0][1])
    finally:
        with loaded.begin() as conn:
            conn.execute(text("UPDATE month_loads SET rows_read = :n WHERE report_month = :m"),
                         {"n": before, "m": str(MONTH)})
    assert "was loaded again while figures/overdue_items ran ahead" in caplog.text
    assert ahead.taken == 0
    _equal(got, _inline(loaded, queries)[0])


def test_a_lost_side_process_leaves_the_queries_to_the_stage(loaded, forced, caplog):
    queries = _queries()
    with prefetch.Prefetch(loaded, str(MONTH), 1000, queries) as ahead:
        for pid in list(ahead._pool._processes):  # noqa: SLF001 - as the OOM killer would
            os.kill(pid, 9)
        with loaded.connect() as conn, ahead.attached(conn):
            got = [wh.query(conn, name, **params) for name, params in queries]
    assert "the side process was lost" in caplog.text
    for g, e in zip(got, _inline(loaded, queries)):
        _equal(g, e)


def test_an_error_of_a_query_run_ahead_is_raised_in_the_stage(loaded, forced):
    bad = [("figures/overdue_items", {"programme_year": 2020})]   # parameters missing
    with prefetch.Prefetch(loaded, str(MONTH), 1000, bad) as ahead:
        with loaded.connect() as conn, ahead.attached(conn), \
                pytest.raises(StatementError) as err:
            wh.query(conn, bad[0][0], **bad[0][1])
    assert "report_month" in str(err.value)
