"""The monthly watch lists of the notice beyond the ranking:

- N10 basic-category list (``basic_category_items``): communities whose record names no
  basic-category (基础类) item (``BASIC_CONTENT_MISSING``), or which receive central or provincial
  money while basic items are less than the configured share of their planned items
  (``SUBSIDY_NOT_MAINLY_BASIC``; the export carries no money per category, so this is a list to
  check, not a finding).
- N11 elevator list (``elevator_works``): communities with elevator installation under way
  (加装电梯 above 0, status 已开工), for the stricter quality-and-safety supervision.

The SQL selects the rows (set-based); Python only orders them by code point and numbers them.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection

from . import warehouse as wh
from .config import Programme
from .figures import sort_by_place
from .months import Month

BASIC_REASONS = {
    "BASIC_CONTENT_MISSING": "未安排基础类改造内容",
    "SUBSIDY_NOT_MAINLY_BASIC": "中央和省级资金未体现重点用于基础类改造",
}


def _numbered(frame: pd.DataFrame, month: Month, extra: list[str]) -> pd.DataFrame:
    frame = sort_by_place(frame, extra)
    frame = frame.drop(columns=["city_order"])
    frame["is_valid"] = [bool(v) for v in frame["is_valid"]]
    frame.insert(0, "seq", range(1, len(frame) + 1))
    frame.insert(0, "report_month", str(month))
    return frame


def basic_category_query(programme: Programme, month: Month) -> tuple[str, dict[str, Any]]:
    """The N10 list's query of ``month``: its name and parameters."""
    share = programme.figure_rules.basic_min_item_share
    return "figures/basic_category_items", {
        "programme_year": programme.year, "report_month": str(month),
        "basic_share_num": share.numerator, "basic_share_den": share.denominator}


def elevator_query(programme: Programme, month: Month) -> tuple[str, dict[str, Any]]:
    """The N11 list's query of ``month``: its name and parameters."""
    return "figures/elevator_works", {"programme_year": programme.year, "report_month": str(month)}


def compute_basic_category_list(conn: Connection, programme: Programme,
                                month: Month) -> pd.DataFrame:
    """Compute and store the N10 list of ``month``; return it in administrative order."""
    name, params = basic_category_query(programme, month)
    rows = wh.query(conn, name, **params)
    rows = _numbered(rows, month, ["project_id", "reason"])
    wh.replace_month(conn, "basic_category_items", str(month), rows)
    return read_list(conn, "basic_category_items", month)


def compute_elevator_list(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    """Compute and store the N11 list of ``month``; return it in administrative order."""
    name, params = elevator_query(programme, month)
    rows = wh.query(conn, name, **params)
    rows = _numbered(rows, month, ["project_id"])
    wh.replace_month(conn, "elevator_works", str(month), rows)
    return read_list(conn, "elevator_works", month)


def read_list(conn: Connection, table: str, month: Month) -> pd.DataFrame:
    """A stored list of ``month`` in its order, with is_valid as bool on every database."""
    rows = wh.read_month(conn, table, str(month)).sort_values("seq").reset_index(drop=True)
    rows["is_valid"] = [bool(v) for v in rows["is_valid"]]
    return rows
