"""The stages without Airflow: a rerun replaces the month (no duplicates) and writes
byte-identical files; what one run writes is complete and consistent."""
from __future__ import annotations

import hashlib
import logging

import pytest
from sqlalchemy import text

from supervision import pipeline, processes, warehouse
from tests.fixtures.runs import month_settings, warehouse_env


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _counts(url, month):
    engine = warehouse.connect(url)
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t} WHERE report_month = :m"),
                                {"m": month}).scalar()
                for t in ("monthly_records", "quality_findings", "quarantine", "city_figures",
                          "overdue_items", "delivery_ledger")}


@pytest.fixture(scope="module")
def two_runs(sample_landing, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    with warehouse_env(f"sqlite:///{out / 'warehouse.db'}") as url:
        s = month_settings(sample_landing, out)
        first = pipeline.run_month(s)
        digests_first, counts_first = _digests(out / "2020-06"), _counts(url, "2020-06")
        second = pipeline.run_month(s)
        digests_second, counts_second = _digests(out / "2020-06"), _counts(url, "2020-06")
    return out, (first, digests_first, counts_first), (second, digests_second, counts_second)


def test_rerun_writes_byte_identical_files(two_runs):
    _, (_, first, _), (_, second, _) = two_runs
    assert first == second
    assert "monthly_bulletin.pdf" in first and "manifest.json" in first


def test_rerun_replaces_the_month_and_sends_nothing_twice(two_runs):
    out, (r1, _, c1), (r2, _, c2) = two_runs
    assert c1 == c2
    assert c1["city_figures"] == 15  # 14 cities + 全省
    assert r1["send"]["recipients_sent"] == 168 and r2["send"]["recipients_sent"] == 0
    assert r2["send"]["recipients_skipped"] == 168
    assert len(list((out / "outbox" / "2020-06").glob("*.eml"))) == r1["send"]["messages"]


def test_rows_read_equal_accepted_plus_quarantined(two_runs):
    _, (r1, _, c1), _ = two_runs
    q = r1["quality"]
    assert q["rows_read"] == q["rows_accepted"] + q["rows_quarantined"]
    assert c1["monthly_records"] == q["rows_read"]
    assert c1["quarantine"] == q["rows_quarantined"] > 0


def test_a_side_process_writes_the_files_a_thread_writes(two_runs, sample_landing, monkeypatch,
                                                         caplog):
    """The figures' lists and the notices' lists, written by a second process, and the figure
    queries run ahead in another (the path of a month of 100,000 rows or more, forced here at
    the sample's size): byte for byte the same output folder as the runs before, which wrote
    them in a thread and ran every query in the stage's connection."""
    out, (_, first, _), _ = two_runs
    monkeypatch.setenv("SUPERVISION_SIDE_PROCESS_ROWS", "1")
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    caplog.set_level(logging.INFO, logger="supervision.prefetch")
    with warehouse_env(f"sqlite:///{out / 'warehouse.db'}"):
        pipeline.run_month(month_settings(sample_landing, out))
    assert _digests(out / "2020-06") == first
    assert "figures queries: 5 of 5 run ahead in a side process" in caplog.text
