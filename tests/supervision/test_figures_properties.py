"""Property-based tests of the figures on random small warehouses: the counts agree with a plain
re-statement of SPEC §3 in Python, the ranks are a competition ranking of the exact values, 全省
is the sums, the lag flags are the exact comparisons, and SQLite and PostgreSQL agree."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from supervision import figures
from supervision import warehouse as wh
from supervision.config import load_programme
from supervision.months import Month
from supervision.pipeline import compute_month_figures

from tests.supervision.figure_warehouse import Builder, both_dbs, comparable  # noqa: F401

MAY, JUNE = Month(2020, 5), Month(2020, 6)
CITY_NAMES = ["长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市"]
STATUSES = ["未开工", "已开工", "已完工"]
REVIEWS = ["已审核", "待审核", "已退回", None]
DAY0 = date(2020, 4, 1)


@dataclass
class Rec:
    status: str
    start: str | None
    finish: str | None
    planned: int
    done: int
    review: str | None
    reported: str | None
    valid: bool


def _day(n: int | None) -> str | None:
    return None if n is None else (DAY0 + timedelta(days=n)).isoformat()


@st.composite
def records(draw, month: Month):
    """A record as a snapshot of ``month`` (taken on the 1st of the next month) may hold it."""
    last = (month.next().first_day - DAY0).days          # the snapshot day
    status = draw(st.sampled_from(STATUSES))
    start = finish = None
    if status != "未开工":
        start = draw(st.integers(0, last))
        if status == "已完工":
            finish = draw(st.integers(start, last))
    return Rec(status, _day(start), _day(finish),
               planned=draw(st.sampled_from([0, 1, 10_001, 1_234_500]) | st.integers(0, 10**12)),
               done=draw(st.integers(0, 10**12)), review=draw(st.sampled_from(REVIEWS)),
               reported=_day(draw(st.none() | st.integers(0, last))), valid=draw(st.booleans()))


@st.composite
def worlds(draw):
    """Cities with targets, plan communities, and the May and June record of each (or none)."""
    n = draw(st.integers(1, len(CITY_NAMES)))
    cities = [(CITY_NAMES[i], draw(st.integers(0, 5))) for i in range(n)]
    plan = []
    for city, _ in cities:
        for i in range(draw(st.integers(0, 5))):
            plan.append({"city": city, "county": f"第{i % 2}区", "name": f"{city}{i}号小区",
                         "households": draw(st.none() | st.integers(1, 2000)),
                         "may": draw(st.none() | records(MAY)),
                         "june": draw(st.none() | records(JUNE))})
    return cities, plan


def _wan(yuan: int) -> str:
    return str(Decimal(yuan).scaleb(-4))


def load(engine, world) -> None:
    cities, plan = world
    b = Builder()
    for order, (city, target) in enumerate(cities, start=1):
        b.city(city, target, order)
    for p in plan:
        c = b.community(p["city"], p["county"], p["name"], p["households"])
        for month, rec in (("2020-05", p["may"]), ("2020-06", p["june"])):
            if rec is not None:
                b.record(month, c, status=rec.status, start=rec.start, finish=rec.finish,
                         planned=_wan(rec.planned), done=_wan(rec.done), review=rec.review,
                         reported=rec.reported, valid=rec.valid)
    for month in ("2020-05", "2020-06"):
        b.records.setdefault(month, [])
    b.load(engine)


def compute_all(engine) -> dict[str, list[dict]]:
    programme = load_programme(2020)
    with engine.begin() as conn:
        figures.compute_city_figures(conn, programme, MAY)
        out = compute_month_figures(conn, programme, JUNE)
    return {k: comparable(v) for k, v in out.items()}


def oracle(world, month: Month) -> dict[str, dict[str, int]]:
    """SPEC §3 restated naively: per city, from the generated records."""
    cities, plan = world
    first, last = month.first_day.isoformat(), month.last_day.isoformat()
    key = "may" if month == MAY else "june"
    out = {city: {"target_count": t, "plan_count": 0, "plan_households": 0, "started_count": 0,
                  "started_households": 0, "finished_count": 0, "planned_invest_yuan": 0,
                  "done_invest_yuan": 0, "timely_count": 0} for city, t in cities}
    for p in plan:
        o = out[p["city"]]
        o["plan_count"] += 1
        o["plan_households"] += p["households"] or 0
        r = p[key]
        if r is None or not r.valid:
            continue
        started = r.status in ("已开工", "已完工") and r.start <= last
        o["started_count"] += started
        o["started_households"] += (p["households"] or 0) if started else 0
        o["finished_count"] += r.status == "已完工" and r.finish <= last
        o["planned_invest_yuan"] += r.planned
        o["done_invest_yuan"] += r.done
        o["timely_count"] += r.review == "已审核" and r.reported is not None and (
            first <= r.reported <= last or (r.status == "已完工" and r.reported < first))
    return out


def rank_of(value, values) -> int:
    return 1 + sum(1 for v in values if v > value)


def check_invariants(world, result) -> None:
    rows = result["figures"]
    cities = [r for r in rows if r["city"] != figures.PROVINCE_ROW]
    total = rows[-1]
    assert total["city"] == figures.PROVINCE_ROW and len(cities) == len(world[0])
    want = oracle(world, JUNE)
    for r in cities:
        assert {c: r[c] for c in figures.COUNT_COLUMNS} == want[r["city"]], r["city"]
    # 全省 is the sums, its rates are recomputed from the sums
    for c in figures.COUNT_COLUMNS:
        assert total[c] == sum(r[c] for r in cities)
    exact = {r["city"]: figures.exact_rates(r) for r in rows}
    for r in rows:
        for rate in figures.RATES:
            e = exact[r["city"]][rate]
            assert r[rate] == (None if e is None else float(e))
        assert 0 <= r["score_cents"] <= 10000
    # ranks: competition ranks of the rounded score and of every exact rate (empty = 0)
    scores = [r["score_cents"] for r in cities]
    for r in cities:
        assert r["score_rank"] == rank_of(r["score_cents"], scores)
        for rate in figures.RATES:
            values = [exact[c["city"]][rate] or 0 for c in cities]
            assert r[f"{rate}_rank"] == rank_of(exact[r["city"]][rate] or 0, values)
    assert total["score_rank"] is None and total["list_order"] is None
    # the listing order: a permutation sorted by score, 开工率, 投资完成率, administrative order
    listed = sorted(cities, key=lambda r: r["list_order"])
    assert [r["list_order"] for r in listed] == list(range(1, len(cities) + 1))
    keys = [(-r["score_cents"], -(exact[r["city"]]["start_rate"] or 0),
             -(exact[r["city"]]["investment_rate"] or 0), r["city_order"]) for r in listed]
    assert keys == sorted(keys)
    # lag: strictly below the exact expected path; an empty rate lags nothing
    for r in cities:
        s, i = exact[r["city"]]["start_rate"], exact[r["city"]]["investment_rate"]
        assert r["start_lagging"] == (s is not None and s < Fraction(1, 3))
        assert r["investment_lagging"] == (i is not None and i < Fraction(1, 8))
        assert r["lagging"] == (r["start_lagging"] or r["investment_lagging"])
    # 较上月 against the May figures, exactly
    may = oracle(world, MAY)
    for r in cities:
        before = figures.exact_rates(may[r["city"]])
        for rate in figures.RATES:
            now, then = exact[r["city"]][rate], before[rate]
            assert r[f"{rate}_change"] == (None if now is None or then is None
                                           else float((now - then) * 100))
    # the overdue list agrees with the counts
    items = result["overdue"]
    missing = {(i["city"], i["name"]) for i in items if i["reason"] == "MISSING_FROM_EXPORT"}
    assert missing == {(p["city"], p["name"]) for p in world[1] if p["june"] is None}
    late = {(i["city"], i["name"]) for i in items
            if i["reason"] in ("NOT_REPORTED", "NOT_REVIEWED", "DATA_INVALID", "MISSING_FROM_EXPORT")}
    for r in cities:
        on_time = [p for p in world[1] if p["city"] == r["city"] and (p["city"], p["name"]) not in late]
        assert r["timely_count"] == len(on_time)
    assert [i["seq"] for i in items] == list(range(1, len(items) + 1))
    # early warning: the window lies within what has started; 全省 is the sums
    warnings = result["warnings"]
    for w in warnings[:-1]:
        assert 0 <= w["started_in_window"] <= w["started_count"]
    assert warnings[-1]["started_in_window"] == sum(w["started_in_window"] for w in warnings[:-1])
    # the spot-check sample is drawn from counted records only
    counted = {(p["city"], p["name"]) for p in world[1] if p["june"] is not None and p["june"].valid}
    assert {(s["city"], s["name"]) for s in result["sample"]} <= counted


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_invariants_on_sqlite(world, tmp_path_factory):
    engine = wh.connect(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'warehouse.db'}")
    try:
        load(engine, world)
        check_invariants(world, compute_all(engine))
    finally:
        engine.dispose()


@pytest.mark.postgres
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_sqlite_and_postgresql_agree(world, both_dbs):
    lite, pg = both_dbs
    load(lite, world)
    load(pg, world)
    on_sqlite, on_postgres = compute_all(lite), compute_all(pg)
    assert on_sqlite == on_postgres
    check_invariants(world, on_postgres)
