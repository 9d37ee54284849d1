"""The figures of SPEC §3 on a small hand-made warehouse whose every figure was worked out by
hand (the derivations are in the comments), on SQLite and on PostgreSQL.

The fixture, data month June 2020 (expected path: 开工率 1/3, 投资完成率 1/8) with May before it:

    city    任务数 plan  what its records say in June
    长沙市   4     4    c1 已完工 in May (reviewed final report of 28 May), c2 started 1 June,
                        c3 not started and 待审核, c4 started 1 July (after the month: not started)
    株洲市   2     2    both started in May, no investment done, both 待审核        → tie at 50.00
    湘潭市   2     2    none started, 15 万元 done of 10 万元 planned each (150%)     → tie at 50.00
    衡阳市   0     1    任务数 0 (empty 开工率), one started community
    邵阳市   3     3    no record at all (every community MISSING_FROM_EXPORT)
    岳阳市   2     2    y1 DATA_INVALID (and PLAN_MISMATCH), y2 started, last reported in May
"""
from __future__ import annotations

from fractions import Fraction

import pytest

from supervision import figures, warehouse as wh
from supervision.config import load_programme
from supervision.months import Month

from tests.supervision.figure_warehouse import (  # noqa: F401
    Builder, both_dbs, comparable, figure_db, june_2020 as build, wan)

MAY, JUNE = Month(2020, 5), Month(2020, 6)
CITIES = ["长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "全省"]


@pytest.fixture()
def june(figure_db):
    programme = load_programme(2020)
    build().load(figure_db)
    with figure_db.begin() as conn:
        may = figures.compute_city_figures(conn, programme, MAY)
        jun = figures.compute_city_figures(conn, programme, JUNE)
        overdue = figures.compute_overdue(conn, programme, JUNE)
    return figure_db, programme, may, jun, overdue


def by_city(frame):
    return {r["city"]: r for r in wh.records(frame)}


def test_counts_and_sums_per_city(june):
    _, _, _, jun, _ = june
    assert list(jun.city) == CITIES
    rows = by_city(jun)
    expected = {  # target plan households started started_hh finished planned done timely
        "长沙市": (4, 4, 1000, 2, 300, 1, wan("700.00"), wan("150.55"), 2),
        "株洲市": (2, 2, 200, 2, 200, 0, wan(20), 0, 0),
        "湘潭市": (2, 2, 200, 0, 0, 0, wan(20), wan(30), 2),
        "衡阳市": (0, 1, 60, 1, 60, 0, wan(50), wan(5), 1),
        "邵阳市": (3, 3, 300, 0, 0, 0, 0, 0, 0),
        "岳阳市": (2, 2, 200, 1, 110, 0, wan(80), wan(20), 0),
        "全省": (13, 14, 1960, 6, 670, 1, wan(870), wan("205.55"), 5),
    }
    for city, want in expected.items():
        got = tuple(int(rows[city][c]) for c in figures.COUNT_COLUMNS)
        assert got == want, city


def test_rates_are_exact_and_empty_on_a_zero_denominator(june):
    _, _, _, jun, _ = june
    rows = by_city(jun)
    cs = rows["长沙市"]
    assert cs["start_rate"] == 2 / 4 and cs["households_start_rate"] == 300 / 1000
    assert cs["finish_rate"] == 1 / 4 and cs["timely_rate"] == 2 / 4
    assert cs["investment_rate"] == 1505500 / 7000000          # = 3011/14000
    assert rows["湘潭市"]["investment_rate"] == 1.5             # above 100%: shown as it is
    hy = rows["衡阳市"]                                          # 任务数 0
    assert hy["start_rate"] is None and hy["finish_rate"] is None
    assert hy["households_start_rate"] == 1.0
    assert rows["邵阳市"]["investment_rate"] is None             # no counted money at all
    assert rows["全省"]["start_rate"] == 6 / 13                  # recomputed from the sums
    assert rows["全省"]["investment_rate"] == 2055500 / 8700000
    exact = figures.exact_city_rates(jun)
    assert exact["长沙市"]["investment_rate"] == Fraction(3011, 14000)
    assert exact["全省"]["timely_rate"] == Fraction(5, 14)


def test_scores_ties_and_competition_ranks(june):
    _, _, _, jun, _ = june
    rows = by_city(jun)
    # 长沙市: 100 × (0.5·1/2 + 0.3·3011/14000 + 0.2·1/2) = 41.4521… → 41.45
    # 株洲市: 100 × 0.5·1 = 50;  湘潭市: 100 × (0.3·min(3/2, 1) + 0.2·1) = 50 (capped)
    # 衡阳市: 100 × (0 + 0.3·1/10 + 0.2·1) = 23;  岳阳市: 100 × (0.5·1/2 + 0.3·1/4) = 32.50
    # 全省: 100 × (0.5·6/13 + 0.3·4111/17400 + 0.2·5/14) = 37.3077… → 37.31
    want = {"长沙市": 4145, "株洲市": 5000, "湘潭市": 5000, "衡阳市": 2300, "邵阳市": 0,
            "岳阳市": 3250, "全省": 3731}
    assert {c: r["score_cents"] for c, r in rows.items()} == want
    assert {c: r["score_rank"] for c, r in rows.items()} == {
        "长沙市": 3, "株洲市": 1, "湘潭市": 1, "衡阳市": 5, "邵阳市": 6, "岳阳市": 4, "全省": None}
    # listing: the tie at 50.00 is broken by 开工率 (株洲市 1 > 湘潭市 0)
    assert {c: r["list_order"] for c, r in rows.items()} == {
        "长沙市": 3, "株洲市": 1, "湘潭市": 2, "衡阳市": 5, "邵阳市": 6, "岳阳市": 4, "全省": None}


def test_each_indicator_has_its_own_competition_rank_on_the_exact_rate(june):
    _, _, _, jun, _ = june
    rows = by_city(jun)

    def ranks(col):
        return [rows[c][col] for c in CITIES]
    # an empty rate ranks as 0 (衡阳市's 开工率, 邵阳市's 投资完成率)
    assert ranks("start_rate_rank") == [2, 1, 4, 4, 4, 2, None]
    assert ranks("households_start_rate_rank") == [4, 1, 5, 1, 5, 3, None]
    assert ranks("finish_rate_rank") == [1, 2, 2, 2, 2, 2, None]
    # uncapped: 湘潭市 150% first, then 岳阳市 1/4, 长沙市 3011/14000, 衡阳市 1/10
    assert ranks("investment_rate_rank") == [3, 5, 1, 4, 5, 2, None]
    assert ranks("timely_rate_rank") == [3, 4, 1, 1, 4, 4, None]


def test_lag_rule(june):
    _, _, _, jun, _ = june
    rows = by_city(jun)
    assert rows["长沙市"]["expected_start_rate"] == 1 / 3
    assert rows["长沙市"]["expected_investment_rate"] == 1 / 8
    flags = {c: (r["start_lagging"], r["investment_lagging"], r["lagging"]) for c, r in rows.items()}
    assert flags == {
        "长沙市": (False, False, False),
        "株洲市": (False, True, True),      # investment 0 < 1/8
        "湘潭市": (True, False, True),      # 开工率 0 < 1/3
        "衡阳市": (False, True, True),      # empty 开工率 lags nothing; 1/10 < 1/8
        "邵阳市": (True, False, True),      # empty 投资完成率 lags nothing
        "岳阳市": (False, False, False),
        "全省": (False, False, False),       # the province is not a city
    }


def test_a_month_without_a_previous_month_has_no_changes(june):
    _, _, may, _, _ = june
    for r in wh.records(may):
        assert r["rank_change"] is None
        assert all(r[f"{rate}_change"] is None for rate in figures.RATES)
    assert by_city(may)["长沙市"]["score_cents"] == 3181   # 12.5 + 4.3071… + 15 → 31.81


def test_changes_against_the_previous_month(june):
    _, _, _, jun, _ = june
    rows = by_city(jun)
    cs = rows["长沙市"]
    assert cs["start_rate_change"] == 25.0                  # 1/2 − 1/4
    assert cs["households_start_rate_change"] == 20.0       # 3/10 − 1/10
    assert cs["finish_rate_change"] == 0.0
    assert cs["investment_rate_change"] == 7.15             # 3011/14000 − 201/1400 = 1001/14000
    assert cs["timely_rate_change"] == -25.0                # 1/2 − 3/4
    assert rows["株洲市"]["investment_rate_change"] is None  # empty in May
    assert rows["衡阳市"]["start_rate_change"] is None       # empty in both months
    assert rows["衡阳市"]["timely_rate_change"] == 100.0
    assert rows["全省"]["start_rate_change"] == float(Fraction(5, 13) * 100)
    # May ranks: 长沙市 1, every other city 0.00 → 2; change = May rank − June rank
    assert {c: r["rank_change"] for c, r in rows.items()} == {
        "长沙市": -2, "株洲市": 1, "湘潭市": 1, "衡阳市": -3, "邵阳市": -4, "岳阳市": -2, "全省": None}


def test_the_overdue_list(june):
    _, _, _, _, overdue = june
    got = [(r["seq"], r["city"], r["county"], r["project_id"], r["reason"], r["detail"])
           for r in wh.records(overdue)]
    assert got == [
        (1, "长沙市", "岳麓区", "HN202000003", "NOT_REVIEWED", "待审核"),
        (2, "长沙市", "开福区", "HN202000004", "NOT_REPORTED", "2020-07-01"),
        (3, "株洲市", "芦淞区", "HN202000006", "NOT_REVIEWED", "待审核"),
        (4, "株洲市", "荷塘区", "HN202000005", "NOT_REVIEWED", "待审核"),
        (5, "邵阳市", "北塔区", None, "MISSING_FROM_EXPORT", None),
        (6, "邵阳市", "双清区", None, "MISSING_FROM_EXPORT", None),
        (7, "邵阳市", "大祥区", None, "MISSING_FROM_EXPORT", None),
        (8, "岳阳市", "君山区", "HN202000014", "NOT_REPORTED", "2020-05-31"),
        (9, "岳阳市", "岳阳楼区", "HN202000013", "DATA_INVALID", "DATE_AFTER_SNAPSHOT"),
        (10, "岳阳市", "岳阳楼区", "HN202000013", "PLAN_MISMATCH", "涉及户数"),
    ]


def test_timely_is_exactly_neither_not_reported_nor_not_reviewed(june):
    _, _, _, jun, overdue = june
    rows = by_city(jun)
    late = {(r["city"], r["name"]) for r in wh.records(overdue)
            if r["reason"] in ("NOT_REPORTED", "NOT_REVIEWED", "MISSING_FROM_EXPORT", "DATA_INVALID")}
    plan = build().plan
    for city in CITIES[:-1]:
        on_time = [c for c in plan if c.city == city and (c.city, c.name) not in late]
        assert rows[city]["timely_count"] == len(on_time), city


def test_not_started_past_the_deadline(figure_db):
    b = Builder().city("长沙市", 3, 1)
    a = b.community("长沙市", "芙蓉区", "甲小区")
    c = b.community("长沙市", "天心区", "乙小区")
    d = b.community("长沙市", "岳麓区", "丙小区")
    b.community("长沙市", "开福区", "丁小区")              # missing: its only reason
    m = "2020-10"
    b.record(m, a, status="已开工", start="2020-10-31", reported="2020-10-31")
    b.record(m, c, status="已开工", start="2020-11-01", reported="2020-10-30")  # after October
    b.record(m, d, status="已开工", start="2020-09-01", reported="2020-10-02", valid=False)
    b.load(figure_db)
    programme = load_programme(2020)
    with figure_db.begin() as conn:
        items = figures.compute_overdue(conn, programme, Month(2020, 10))
        september = figures.compute_overdue(conn, programme, Month(2020, 9))
    got = [(r["name"], r["reason"]) for r in wh.records(items)]
    # counties by code point: 天心区 < 岳麓区 < 开福区 < 芙蓉区 (甲小区 started on the 31st)
    # 丙小区's record is invalid: its dates are not believed, so it is never "not started"
    assert got == [("乙小区", "NOT_STARTED_PAST_DEADLINE"),
                   ("丙小区", "DATA_INVALID"),
                   ("丁小区", "MISSING_FROM_EXPORT")]
    # before the deadline's month nobody is overdue for not starting (September has no records)
    assert "NOT_STARTED_PAST_DEADLINE" not in set(september.reason)


def test_a_city_with_no_plan_and_no_records(figure_db):
    b = Builder().city("长沙市", 2, 1).city("株洲市", 0, 2)
    c = b.community("长沙市", "芙蓉区", "甲小区")
    b.record("2020-06", c, status="已开工", start="2020-06-01", planned="1.0001", done="0.0001",
             reported="2020-06-02")
    b.load(figure_db)
    with figure_db.begin() as conn:
        jun = figures.compute_city_figures(conn, load_programme(2020), JUNE)
    rows = by_city(jun)
    zz = rows["株洲市"]
    assert [int(zz[c]) for c in figures.COUNT_COLUMNS] == [0] * len(figures.COUNT_COLUMNS)
    assert all(zz[rate] is None for rate in figures.RATES)
    assert zz["score_cents"] == 0 and zz["score_rank"] == 2 and not zz["lagging"]
    # 1 元 of 10,001 元: money is exact to the 元
    assert rows["长沙市"]["investment_rate"] == 1 / 10001
    assert int(rows["全省"]["planned_invest_yuan"]) == 10001


def test_rerunning_a_month_replaces_it(june):
    engine, programme, _, first, _ = june
    with engine.begin() as conn:
        again = figures.compute_city_figures(conn, programme, JUNE)
        count = len(wh.read_month(conn, "city_figures", str(JUNE)))
    assert count == len(CITIES)
    assert wh.records(again) == wh.records(first)


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_the_same_figures(both_dbs):
    results = []
    for engine in both_dbs:
        build().load(engine)
        programme = load_programme(2020)
        with engine.begin() as conn:
            figures.compute_city_figures(conn, programme, MAY)
            results.append((comparable(figures.compute_city_figures(conn, programme, JUNE)),
                            comparable(figures.compute_overdue(conn, programme, JUNE))))
    assert results[0] == results[1]
