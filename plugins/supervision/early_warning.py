"""Early warning (none of the reference bulletins has it): each city's 开工率 projected to the
start deadline at its recent pace, and the cities that will miss the deadline on that pace.

The pace is read from the month's own snapshot: the communities whose 开工日期 lies in the last
``pace_window_months`` months (never before the start of the expected path), divided by the
number of those months. So the warning of a month depends on that month's snapshot only, like
every other figure, and a backfill gives what the month gave then. The arithmetic is exact
(fractions); docs/figures.md works an example.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from . import warehouse as wh
from .config import Programme, exact_decimal
from .figures import PROVINCE_ROW, as_float, ratio, read_city_figures
from .months import Month


def pace_window(programme: Programme, month: Month) -> int:
    """Months in the pace window ending with ``month``: the configured window, shortened so it
    never reaches back before the month where the expected path starts (0 when ``month`` is
    not after it)."""
    since_start = month.months_since(programme.expected_start.start)
    return max(0, min(programme.figure_rules.pace_window_months, since_start))


def months_left(programme: Programme, month: Month) -> int:
    """Whole months from the end of ``month`` to the end of the start deadline's month."""
    return max(0, Month.of(programme.start_deadline).months_since(month))


def project(target: int, started: int, in_window: int, window: int, left: int,
            target_rate: Fraction) -> dict:
    """The projection of one row, exactly (floats only for storage)."""
    goal = target_rate * target                 # communities to have started at the deadline
    pace = Fraction(in_window, window) if window else None
    if left == 0:
        projected: Fraction | None = Fraction(started)   # the deadline month is reached
    elif pace is None:
        projected = None                                 # no pace before the path starts
    else:
        projected = started + pace * left
    required = None if left == 0 else max(Fraction(0), goal - started) / left
    return {
        "monthly_pace": as_float(pace),
        "needed_by_deadline": math.ceil(goal),
        "projected_started": as_float(projected),
        "projected_start_rate": (None if projected is None or target == 0
                                 else float(projected / target)),
        "required_monthly_pace": as_float(required),
        "will_miss": projected is not None and projected < goal,
    }


def pace_query(programme: Programme, month: Month) -> tuple[str, dict[str, Any]]:
    """The recent pace's query of ``month``: its name and parameters."""
    window_after = month.shift(-pace_window(programme, month)).last_day.isoformat()
    return "figures/start_pace", {"programme_year": programme.year, "report_month": str(month),
                                  "window_after": window_after,
                                  "month_end": month.last_day.isoformat()}


def compute_early_warnings(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    """Compute and store ``early_warnings`` of ``month`` (after its city figures); return the
    rows in administrative order, 全省 last."""
    figures = read_city_figures(conn, month)
    if figures.empty:
        raise RuntimeError(f"no city figures for {month}: compute them before the early warning")
    window = pace_window(programme, month)
    left = months_left(programme, month)
    target_rate = exact_decimal(programme.expected_start.target)
    name, params = pace_query(programme, month)
    window_after = params["window_after"]
    pace = wh.query(conn, name, **params)
    in_window = {r["city"]: int(r["started_in_window"]) for r in wh.records(pace)}
    in_window[PROVINCE_ROW] = sum(in_window.values())
    rows = []
    for r in wh.records(figures):
        target, started = int(r["target_count"]), int(r["started_count"])
        rows.append({
            "report_month": str(month), "city": r["city"], "city_order": int(r["city_order"]),
            "target_count": target, "started_count": started,
            "start_rate": as_float(ratio(started, target)), "window_months": window,
            "window_after": window_after, "started_in_window": in_window[r["city"]],
            "deadline": programme.start_deadline.isoformat(), "months_left": left,
            **project(target, started, in_window[r["city"]], window, left, target_rate),
        })
    table = pd.DataFrame(rows)
    wh.replace_month(conn, "early_warnings", str(month), table)
    return read_early_warnings(conn, month)


def read_early_warnings(conn: Connection, month: Month) -> pd.DataFrame:
    rows = wh.read_month(conn, "early_warnings", str(month)).sort_values(
        "city_order", kind="stable").reset_index(drop=True)
    rows["will_miss"] = [bool(v) for v in rows["will_miss"]]
    return rows
