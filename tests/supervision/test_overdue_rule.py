"""SPEC §3's overdue reasons, one combination per test, on SQLite and on PostgreSQL: a record
that failed a blocking rule (DATA_INVALID) is never also NOT_STARTED_PAST_DEADLINE — its dates
are not believed — while NOT_REPORTED, NOT_REVIEWED and PLAN_MISMATCH still apply to it; a
community missing from the export has that as its only reason; a valid record not started by
the deadline is NOT_STARTED_PAST_DEADLINE."""
from __future__ import annotations

import pytest

from supervision import figures, warehouse as wh
from supervision.config import load_programme
from supervision.months import Month

from tests.supervision.figure_warehouse import Builder, figure_db  # noqa: F401

OCTOBER = "2020-10"     # the month of the 2020 start deadline (31 October)


def reasons(engine, build) -> list[tuple[str, str]]:
    b = Builder().city("长沙市", 1, 1)
    c = b.community("长沙市", "芙蓉区", "甲小区")
    build(b, c)
    b.load(engine)
    with engine.begin() as conn:
        items = figures.compute_overdue(conn, load_programme(2020), Month.parse(OCTOBER))
    return [(r["name"], r["reason"]) for r in wh.records(items)]


def test_invalid_and_past_the_deadline_is_only_data_invalid(figure_db):
    # the case of the issue: 已完工 with a 完工日期 before its 开工日期 — a blocking rule fails
    got = reasons(figure_db, lambda b, c: b.record(
        OCTOBER, c, status="已完工", start="2020-09-20", finish="2020-09-01",
        reported="2020-10-10", valid=False, rule_ids="FINISH_BEFORE_START"))
    assert got == [("甲小区", "DATA_INVALID")]


def test_invalid_and_not_started_status_past_the_deadline(figure_db):
    got = reasons(figure_db, lambda b, c: b.record(
        OCTOBER, c, status="未开工", reported="2020-10-10", valid=False))
    assert got == [("甲小区", "DATA_INVALID")]


def test_invalid_and_not_reviewed(figure_db):
    got = reasons(figure_db, lambda b, c: b.record(
        OCTOBER, c, status="已开工", start="2020-09-01", reported="2020-10-10", valid=False,
        review="待审核"))
    assert got == [("甲小区", "DATA_INVALID"), ("甲小区", "NOT_REVIEWED")]


def test_invalid_and_not_reported(figure_db):
    got = reasons(figure_db, lambda b, c: b.record(
        OCTOBER, c, status="未开工", reported="2020-09-10", valid=False))
    assert got == [("甲小区", "DATA_INVALID"), ("甲小区", "NOT_REPORTED")]


def test_invalid_and_plan_mismatch(figure_db):
    got = reasons(figure_db, lambda b, c: b.record(
        OCTOBER, c, status="未开工", reported="2020-10-10", valid=False,
        plan_mismatch="涉及户数"))
    assert got == [("甲小区", "DATA_INVALID"), ("甲小区", "PLAN_MISMATCH")]


def test_missing_from_the_export_is_the_only_reason(figure_db):
    def build(b, c):
        other = b.community("长沙市", "天心区", "乙小区")
        b.record(OCTOBER, other, status="已开工", start="2020-09-01", reported="2020-10-10")
    got = reasons(figure_db, build)
    assert got == [("甲小区", "MISSING_FROM_EXPORT")]


def test_valid_and_not_started_past_the_deadline(figure_db):
    got = reasons(figure_db, lambda b, c: b.record(
        OCTOBER, c, status="未开工", reported="2020-10-10"))
    assert got == [("甲小区", "NOT_STARTED_PAST_DEADLINE")]


def test_valid_started_after_the_deadline_is_not_started(figure_db):
    got = reasons(figure_db, lambda b, c: b.record(
        OCTOBER, c, status="已开工", start="2020-11-02", reported="2020-10-30"))
    assert got == [("甲小区", "NOT_STARTED_PAST_DEADLINE")]


@pytest.mark.parametrize("month", ["2020-09"])
def test_before_the_deadline_nobody_is_not_started(figure_db, month):
    b = Builder().city("长沙市", 1, 1)
    c = b.community("长沙市", "芙蓉区", "甲小区")
    b.record(month, c, status="未开工", reported=f"{month}-10")
    b.load(figure_db)
    with figure_db.begin() as conn:
        items = figures.compute_overdue(conn, load_programme(2020), Month.parse(month))
    assert "NOT_STARTED_PAST_DEADLINE" not in set(items.reason)
