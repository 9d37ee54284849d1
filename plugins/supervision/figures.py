"""The monthly figures of SPEC §3: per-city progress, the composite score and its ranking,
较上月 changes, the lag rule and the overdue list.

The database does the counting and summing (``include/sql/figures/*.sql``) in exact integers;
rates and the score are derived here with exact fractions, so a tie is a tie and half-up
rounding is exact; the ranks are the database's RANK() over the exact rounded score.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import pandas as pd
from sqlalchemy import Connection, text

from . import warehouse as wh
from .config import Programme
from .months import Month

PROVINCE_ROW = "全省"
RATES = ("start_rate", "households_start_rate", "finish_rate", "investment_rate", "timely_rate")
REASON_CODES = ("MISSING_FROM_EXPORT", "DATA_INVALID", "NOT_STARTED_PAST_DEADLINE",
                "NOT_REPORTED", "NOT_REVIEWED", "PLAN_MISMATCH")


def ratio(numerator: int, denominator: int) -> Fraction | None:
    """An exact rate; None (empty) when the denominator is 0."""
    return None if denominator == 0 else Fraction(int(numerator), int(denominator))


def score_cents(start: Fraction | None, investment: Fraction | None, timely: Fraction | None,
                weights: dict[str, float]) -> int:
    """综合得分 × 100 = round_half_up(100 × Σ wᵢ·min(rateᵢ, 1), 2 decimals) × 100, exactly.

    An empty rate counts as 0."""
    total = Fraction(0)
    for rate, key in ((start, "start_rate"), (investment, "investment_rate"),
                      (timely, "timely_rate")):
        capped = min(rate, Fraction(1)) if rate is not None else Fraction(0)
        total += Fraction(str(weights[key])) * capped
    return math.floor(total * 10000 + Fraction(1, 2))


def format_score(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def competition_rank(values: list) -> list[int]:
    """1 + the number of values strictly greater: ties share the better rank (1, 2, 2, 4)."""
    return [1 + sum(1 for w in values if w > v) for v in values]


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


def _as_float(rate: Fraction | None) -> float | None:
    return None if rate is None else float(rate)


def _is_lagging(row: pd.Series, programme: Programme, month: Month) -> bool:
    """Strictly below the expected path in 开工率 or 投资完成率 (an empty rate counts as 0)."""
    s_num, s_den = programme.expected_start.fraction_at(month)
    i_num, i_den = programme.expected_investment.fraction_at(month)
    start = ratio(row.started_count, row.target_count) or Fraction(0)
    invest = ratio(row.done_invest_yuan, row.planned_invest_yuan) or Fraction(0)
    return start < Fraction(s_num, s_den) or invest < Fraction(i_num, i_den)


def _rates(frame: pd.DataFrame, programme: Programme) -> pd.DataFrame:
    out = frame.copy()
    fr = {
        "start_rate": [ratio(a, b) for a, b in zip(out.started_count, out.target_count)],
        "households_start_rate": [ratio(a, b) for a, b in zip(out.started_households, out.plan_households)],
        "finish_rate": [ratio(a, b) for a, b in zip(out.finished_count, out.target_count)],
        "investment_rate": [ratio(a, b) for a, b in zip(out.done_invest_yuan, out.planned_invest_yuan)],
        "timely_rate": [ratio(a, b) for a, b in zip(out.timely_count, out.plan_count)],
    }
    for key, values in fr.items():
        out[key] = [_as_float(v) for v in values]
    out["score_cents"] = [score_cents(s, i, t, programme.weights) for s, i, t in
                          zip(fr["start_rate"], fr["investment_rate"], fr["timely_rate"])]
    return out


def compute_city_figures(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    """Compute and store ``city_figures`` of ``month`` (replacing it); return the rows."""
    params = MonthParams.of(programme, month)
    agg = wh.query(conn, "figures/city_progress", **params.as_dict())
    ints = [c for c in agg.columns if c not in ("city",)]
    agg[ints] = agg[ints].astype("int64")
    total = agg[ints].sum()
    total["city_order"] = len(agg) + 1
    province = pd.DataFrame([{"city": PROVINCE_ROW, **total.to_dict()}])
    table = pd.concat([agg, province], ignore_index=True)
    table = _rates(table, programme)
    table["lagging"] = [(_is_lagging(r, programme, month) if r.city != PROVINCE_ROW else False)
                        for r in table.itertuples()]
    table.insert(0, "report_month", str(month))
    wh.replace_month(conn, "city_figures", str(month), table)

    ranks = wh.query(conn, "figures/city_ranks", report_month=str(month)).set_index("city")
    previous = wh.read_month(conn, "city_figures", str(month.previous())).set_index("city")
    updates = []
    for r in table.itertuples():
        u = {"report_month": str(month), "city": r.city}
        for col in ("score_rank", "start_rate_rank", "investment_rate_rank", "timely_rate_rank"):
            u[col] = int(ranks.at[r.city, col]) if r.city in ranks.index else None
        for rate in ("start_rate", "investment_rate", "timely_rate"):
            now = getattr(r, rate)
            before = previous.at[r.city, rate] if r.city in previous.index else None
            u[f"{rate}_change"] = (None if now is None or before is None or pd.isna(before)
                                   or pd.isna(now) else (now - before) * 100)
        prev_rank = previous.at[r.city, "score_rank"] if r.city in previous.index else None
        u["rank_change"] = (None if prev_rank is None or pd.isna(prev_rank) or u["score_rank"] is None
                            else int(prev_rank) - u["score_rank"])
        updates.append(u)
    conn.execute(text(
        "UPDATE city_figures SET score_rank = :score_rank, start_rate_rank = :start_rate_rank, "
        "investment_rate_rank = :investment_rate_rank, timely_rate_rank = :timely_rate_rank, "
        "start_rate_change = :start_rate_change, investment_rate_change = :investment_rate_change, "
        "timely_rate_change = :timely_rate_change, rank_change = :rank_change "
        "WHERE report_month = :report_month AND city = :city"), updates)
    return read_city_figures(conn, month)


def read_city_figures(conn: Connection, month: Month) -> pd.DataFrame:
    return wh.read_month(conn, "city_figures", str(month)).sort_values("city_order").reset_index(drop=True)


def compute_overdue(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    """Compute and store ``overdue_items`` of ``month``; return them in administrative order."""
    params = MonthParams.of(programme, month)
    items = wh.query(conn, "figures/overdue_items", **params.as_dict())
    items = items.sort_values(["city_order", "county", "name", "reason_order", "project_id"],
                              na_position="first", kind="stable").reset_index(drop=True)
    items = items.drop(columns=["city_order", "reason_order"])
    items.insert(0, "seq", range(1, len(items) + 1))
    items.insert(0, "report_month", str(month))
    wh.replace_month(conn, "overdue_items", str(month), items)
    return items
