"""The monthly figures of SPEC §3: per-city progress, the composite score, the ranks, 较上月
changes, the lag rule and the overdue list (docs/figures.md explains every figure).

The division of labour is deliberate. The database does everything that touches community
rows (``include/sql/figures/*.sql``): counting and summing per city in exact integers, and the
全省 sums. Python does the arithmetic on those per-city integers — a few dozen rows — with exact
fractions: rates, the half-up score, the competition ranks, the listing order, the lag rule and
the 较上月 changes. Doing the comparisons in SQL would need rate × rate cross products, which
overflow 64-bit integers for money at province scale (SQLite then silently turns them into
floats, PostgreSQL raises); with fractions a tie is a tie and nothing depends on the database.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping

import pandas as pd
from sqlalchemy import Connection

from . import warehouse as wh
from .config import Programme, exact_decimal
from .months import Month

PROVINCE_ROW = "全省"

#: every rate of SPEC §3 as (numerator column, denominator column) of ``city_figures``
RATE_PARTS: dict[str, tuple[str, str]] = {
    "start_rate": ("started_count", "target_count"),                   # 开工率
    "households_start_rate": ("started_households", "plan_households"),  # 按户数计开工率
    "finish_rate": ("finished_count", "target_count"),                 # 完工率
    "investment_rate": ("done_invest_yuan", "planned_invest_yuan"),    # 投资完成率
    "timely_rate": ("timely_count", "plan_count"),                     # 报送及时率
}
RATES = tuple(RATE_PARTS)
#: the rates of the composite score, in the order of its weights
SCORED_RATES = ("start_rate", "investment_rate", "timely_rate")
#: the integer columns city_progress.sql returns
COUNT_COLUMNS = ("target_count", "plan_count", "plan_households", "started_count",
                 "started_households", "finished_count", "planned_invest_yuan",
                 "done_invest_yuan", "timely_count")
REASON_CODES = ("MISSING_FROM_EXPORT", "DATA_INVALID", "NOT_STARTED_PAST_DEADLINE",
                "NOT_REPORTED", "NOT_REVIEWED", "PLAN_MISMATCH")


# --------------------------------------------------------------------------- exact arithmetic

def ratio(numerator: int, denominator: int) -> Fraction | None:
    """An exact rate; None (empty) when the denominator is 0."""
    return None if int(denominator) == 0 else Fraction(int(numerator), int(denominator))


def exact_rates(row: Mapping[str, Any]) -> dict[str, Fraction | None]:
    """Every rate of a row of per-city integers, exactly."""
    return {rate: ratio(row[num], row[den]) for rate, (num, den) in RATE_PARTS.items()}


def score_cents(start: Fraction | None, investment: Fraction | None, timely: Fraction | None,
                weights: Mapping[str, float | Fraction]) -> int:
    """综合得分 × 100 = round_half_up(100 × Σ wᵢ·min(rateᵢ, 1), 2 decimals) × 100, exactly.

    An empty rate counts as 0; the weights are the decimals of the configuration, exactly."""
    total = Fraction(0)
    for rate, key in ((start, "start_rate"), (investment, "investment_rate"),
                      (timely, "timely_rate")):
        capped = min(rate, Fraction(1)) if rate is not None else Fraction(0)
        total += exact_decimal(weights[key]) * capped
    return math.floor(total * 10000 + Fraction(1, 2))


def format_score(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def competition_rank(values: list) -> list[int]:
    """1 + the number of values strictly greater: ties share the better rank (1, 2, 2, 4)."""
    ordered = sorted(values, reverse=True)
    first = {}
    for i, v in enumerate(ordered, start=1):
        first.setdefault(v, i)
    return [first[v] for v in values]


def _zero_if_empty(rate: Fraction | None) -> Fraction:
    return Fraction(0) if rate is None else rate


def listing_order(rows: list[dict[str, Any]]) -> list[int]:
    """Position of each city in the ranking as listed: by score, then 开工率, then 投资完成率
    (uncapped), then administrative order (empty rates count as 0)."""
    def key(i: int):
        r = rows[i]
        return (-r["score_cents"], -_zero_if_empty(r["rates"]["start_rate"]),
                -_zero_if_empty(r["rates"]["investment_rate"]), r["city_order"])

    order = sorted(range(len(rows)), key=key)
    position = [0] * len(rows)
    for pos, i in enumerate(order, start=1):
        position[i] = pos
    return position


def is_below(rate: Fraction | None, expected: Fraction) -> bool:
    """The lag test: strictly below the expected rate. An empty rate (zero denominator: no
    任务数, or no planned investment among counted records) is below nothing — equivalently,
    numerator < expected × denominator, which is false when the denominator is 0."""
    return rate is not None and rate < expected


def as_float(rate: Fraction | None) -> float | None:
    return None if rate is None else float(rate)


# --------------------------------------------------------------------------- one month

@dataclass(frozen=True)
class MonthParams:
    programme_year: int
    report_month: str
    month_start: str
    month_end: str
    past_start_deadline: int

    @classmethod
    def of(cls, programme: Programme, month: Month) -> "MonthParams":
        return cls(programme.year, str(month), month.first_day.isoformat(),
                   month.last_day.isoformat(), int(month.last_day >= programme.start_deadline))

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def expected_rates(programme: Programme, month: Month) -> tuple[Fraction, Fraction]:
    """The expected 开工率 and 投资完成率 at the end of ``month`` (the lag thresholds)."""
    return programme.expected_start.rate_at(month), programme.expected_investment.rate_at(month)


def _integers(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of per-city integers (the database may return Decimal for sums)."""
    out = []
    for r in wh.records(frame):
        row = {"city": r["city"], "city_order": int(r["city_order"])}
        row.update({c: int(r[c]) for c in COUNT_COLUMNS})
        out.append(row)
    return out


def _previous_by_city(previous: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out = {}
    for r in wh.records(previous):
        out[r["city"]] = {"rates": exact_rates({c: int(r[c]) for c in COUNT_COLUMNS}),
                          "score_rank": r["score_rank"]}
    return out


def derive_city_figures(progress: pd.DataFrame, previous: pd.DataFrame, programme: Programme,
                        month: Month) -> pd.DataFrame:
    """The rows of ``city_figures`` from the per-city integers of ``month`` (city_progress.sql,
    the 全省 row included) and the stored figures of the previous month (may be empty)."""
    rows = _integers(progress)
    expected_start, expected_investment = expected_rates(programme, month)
    for r in rows:
        r["rates"] = exact_rates(r)
        r["score_cents"] = score_cents(*(r["rates"][k] for k in SCORED_RATES), programme.weights)
    cities = [r for r in rows if r["city"] != PROVINCE_ROW]
    ranks = {"score_rank": competition_rank([r["score_cents"] for r in cities])}
    for rate in RATES:
        ranks[f"{rate}_rank"] = competition_rank([_zero_if_empty(r["rates"][rate]) for r in cities])
    for key, values in ranks.items():
        for r, v in zip(cities, values):
            r[key] = v
    for r, pos in zip(cities, listing_order(cities)):
        r["list_order"] = pos
    before = _previous_by_city(previous)
    out = []
    for r in rows:
        is_city = r["city"] != PROVINCE_ROW
        prev = before.get(r["city"])
        rates = r["rates"]
        row = {"report_month": str(month), "city": r["city"], "city_order": r["city_order"],
               **{c: r[c] for c in COUNT_COLUMNS},
               **{rate: as_float(rates[rate]) for rate in RATES},
               "score_cents": r["score_cents"]}
        for rate in ("score",) + RATES:
            row[f"{rate}_rank"] = r.get(f"{rate}_rank") if is_city else None
        for rate in RATES:
            now, then = rates[rate], (prev["rates"][rate] if prev else None)
            row[f"{rate}_change"] = (None if now is None or then is None
                                     else float((now - then) * 100))
        prev_rank = prev["score_rank"] if prev else None
        row["rank_change"] = (int(prev_rank) - row["score_rank"]
                              if is_city and prev_rank is not None else None)
        row["list_order"] = r.get("list_order") if is_city else None
        row["expected_start_rate"] = float(expected_start)
        row["expected_investment_rate"] = float(expected_investment)
        row["start_lagging"] = is_city and is_below(rates["start_rate"], expected_start)
        row["investment_lagging"] = is_city and is_below(rates["investment_rate"], expected_investment)
        row["lagging"] = row["start_lagging"] or row["investment_lagging"]
        out.append(row)
    return pd.DataFrame(out).sort_values("city_order", kind="stable").reset_index(drop=True)


def compute_city_figures(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    """Compute and store ``city_figures`` of ``month`` (replacing it); return the rows in
    administrative order, 全省 last."""
    params = MonthParams.of(programme, month)
    progress = wh.query(conn, "figures/city_progress", programme_year=params.programme_year,
                        report_month=params.report_month, month_start=params.month_start,
                        month_end=params.month_end)
    previous = wh.read_month(conn, "city_figures", str(month.previous()))
    table = derive_city_figures(progress, previous, programme, month)
    wh.replace_month(conn, "city_figures", str(month), table)
    return read_city_figures(conn, month)


FLAG_COLUMNS = ("lagging", "start_lagging", "investment_lagging")


def read_city_figures(conn: Connection, month: Month) -> pd.DataFrame:
    """The stored figures of ``month`` in administrative order (全省 last); flags as bool on
    every database (SQLite returns its booleans as 0/1)."""
    figures = wh.read_month(conn, "city_figures", str(month)).sort_values(
        "city_order", kind="stable").reset_index(drop=True)
    for col in FLAG_COLUMNS:
        figures[col] = [bool(v) for v in figures[col]]
    return figures


def exact_city_rates(figures: pd.DataFrame) -> dict[str, dict[str, Fraction | None]]:
    """The exact rates of stored ``city_figures`` rows, by city (for explanations and tests)."""
    return {r["city"]: exact_rates({c: int(r[c]) for c in COUNT_COLUMNS})
            for r in wh.records(figures)}


# --------------------------------------------------------------------------- overdue list

def sort_by_place(frame: pd.DataFrame, extra: Iterable[str] = ()) -> pd.DataFrame:
    """Administrative order of the city, then county and name by code point (never a database
    collation), then ``extra`` columns."""
    keys = ["city_order", "county", "name", *extra]
    return frame.sort_values(keys, na_position="first", kind="stable").reset_index(drop=True)


def overdue_query(programme: Programme, month: Month) -> tuple[str, dict[str, Any]]:
    """The overdue list's query of ``month``: its name and parameters."""
    return "figures/overdue_items", MonthParams.of(programme, month).as_dict()


def compute_overdue(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    """Compute and store ``overdue_items`` of ``month``; return them in administrative order."""
    name, params = overdue_query(programme, month)
    items = wh.query(conn, name, **params)
    items = sort_by_place(items, ["reason_order", "project_id"])
    items = items.drop(columns=["city_order", "reason_order"])
    items.insert(0, "seq", range(1, len(items) + 1))
    items.insert(0, "report_month", str(month))
    wh.replace_month(conn, "overdue_items", str(month), items)
    return items
