"""Early warning: 开工率 projected to the start deadline at the recent pace (hand-computed), on
SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from supervision import early_warning as ew
from supervision import figures, warehouse as wh
from supervision.config import FigureRules, load_programme
from supervision.months import Month

from tests.supervision.figure_warehouse import Builder, figure_db, june_2020  # noqa: F401


def _run(engine, programme, month):
    with engine.begin() as conn:
        figures.compute_city_figures(conn, programme, month)
        return {r["city"]: r for r in wh.records(ew.compute_early_warnings(conn, programme, month))}


def test_june_on_the_hand_computed_warehouse(figure_db):
    june_2020().load(figure_db)
    rows = _run(figure_db, load_programme(2020), Month(2020, 6))
    # window: May and June (the path starts at the end of April), 4 months left to October
    assert {(r["window_months"], r["window_after"], r["months_left"], r["deadline"])
            for r in rows.values()} == {(2, "2020-04-30", 4, "2020-10-31")}
    got = {c: (r["started_count"], r["started_in_window"], r["monthly_pace"],
               r["projected_started"], r["projected_start_rate"], r["needed_by_deadline"],
               r["required_monthly_pace"], r["will_miss"]) for c, r in rows.items()}
    assert got == {
        "长沙市": (2, 2, 1.0, 6.0, 1.5, 4, 0.5, False),
        "株洲市": (2, 2, 1.0, 6.0, 3.0, 2, 0.0, False),
        "湘潭市": (0, 0, 0.0, 0.0, 0.0, 2, 0.5, True),
        "衡阳市": (1, 1, 0.5, 3.0, None, 0, 0.0, False),      # 任务数 0: nothing to miss
        "邵阳市": (0, 0, 0.0, 0.0, 0.0, 3, 0.75, True),
        "岳阳市": (1, 1, 0.5, 3.0, 1.5, 2, 0.25, False),      # the invalid record does not count
        "全省": (6, 6, 3.0, 18.0, 18 / 13, 13, 1.75, False),
    }


def _august() -> Builder:
    b = Builder().city("长沙市", 4, 1).city("株洲市", 2, 2)
    c = [b.community("长沙市", "芙蓉区", f"甲{i}小区") for i in range(4)]
    z = [b.community("株洲市", "荷塘区", f"乙{i}小区") for i in range(2)]
    m = "2020-08"
    for community, start in zip(c, ["2020-05-03", "2020-06-01", "2020-07-15"]):
        b.record(m, community, status="已开工", start=start, reported="2020-08-03")
    b.record(m, c[3], reported="2020-08-03")
    b.record(m, z[0], status="已开工", start="2020-05-10", reported="2020-08-03")
    b.record(m, z[1], reported="2020-08-03")
    return b


def test_the_window_reaches_back_three_months_only(figure_db):
    _august().load(figure_db)
    rows = _run(figure_db, load_programme(2020), Month(2020, 8))
    cs, zz = rows["长沙市"], rows["株洲市"]
    # (31 May, 31 August]: 长沙市 started 2 of its 3 in the window → 2/3 a month, 2 months left
    assert (cs["window_months"], cs["window_after"], cs["started_in_window"]) == (3, "2020-05-31", 2)
    assert cs["projected_started"] == float(3 + Fraction(2, 3) * 2)      # 13/3 ≥ 4
    assert cs["projected_start_rate"] == float(Fraction(13, 12)) and not cs["will_miss"]
    assert (zz["started_in_window"], zz["projected_started"], zz["will_miss"]) == (0, 1.0, True)
    assert zz["required_monthly_pace"] == 0.5


def test_the_window_is_configuration(figure_db):
    _august().load(figure_db)
    one_month = replace(load_programme(2020), figure_rules=FigureRules(pace_window_months=1))
    cs = _run(figure_db, one_month, Month(2020, 8))["长沙市"]
    assert (cs["window_after"], cs["started_in_window"], cs["will_miss"]) == ("2020-07-31", 0, True)


def test_at_the_deadline_the_projection_is_the_actual_count(figure_db):
    b = _august()
    b.records["2020-10"] = [dict(r, report_month="2020-10") for r in b.records.pop("2020-08")]
    b.load(figure_db)
    rows = _run(figure_db, load_programme(2020), Month(2020, 10))
    cs = rows["长沙市"]
    assert (cs["months_left"], cs["projected_started"], cs["required_monthly_pace"]) == (0, 3.0, None)
    assert cs["will_miss"]                                   # 3 of 4 started at the deadline


@pytest.mark.parametrize("args, want", [
    # target, started, in window, window, months left, target rate → projected, will miss
    ((59, 50, 6, 3, 2, Fraction(1)), (54.0, True)),
    ((59, 50, 9, 3, 3, Fraction(1)), (59.0, False)),          # exactly on target: no warning
    ((59, 52, 9, 3, 1, Fraction(95, 100)), (55.0, True)),     # needs 56.05 → 57 communities
    ((59, 54, 6, 3, 1, Fraction(95, 100)), (56.0, True)),
    ((59, 54, 9, 3, 1, Fraction(95, 100)), (57.0, False)),
    ((10, 3, 0, 0, 5, Fraction(1)), (None, False)),           # no pace before the path starts
])
def test_projection_arithmetic(args, want):
    out = ew.project(*args)
    assert (out["projected_started"], out["will_miss"]) == want


def test_pace_window_and_months_left():
    p = load_programme(2020)
    assert [ew.pace_window(p, Month(2020, m)) for m in (4, 5, 6, 7, 8, 12)] == [0, 1, 2, 3, 3, 3]
    assert [ew.months_left(p, Month(2020, m)) for m in (5, 9, 10, 11)] == [5, 1, 0, 0]
