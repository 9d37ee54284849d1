"""The ranking and the overdue list as published tables (SPEC §7): csv for machines (rates as
fractions, unrounded; money in 万元) and an xlsx twin for people (percentages, formatted)."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd

from .figures import PROVINCE_ROW, format_score
from .outputs import normalize_zip, write_csv

REASON_LABELS = {
    "MISSING_FROM_EXPORT": "系统中无该小区记录",
    "DATA_INVALID": "数据未通过校验",
    "NOT_STARTED_PAST_DEADLINE": "开工截止期后仍未开工",
    "NOT_REPORTED": "信息报送不及时",
    "NOT_REVIEWED": "监管责任人未审核",
    "PLAN_MISMATCH": "与计划申报信息不一致",
}

# (header, column in city_figures, kind)
RANKING_COLUMNS = [
    ("市州", "city", "text"),
    ("任务数", "target_count", "int"),
    ("累计开工数", "started_count", "int"),
    ("开工率", "start_rate", "rate"),
    ("按户数计开工率", "households_start_rate", "rate"),
    ("累计完工数", "finished_count", "int"),
    ("完工率", "finish_rate", "rate"),
    ("计划投资额", "planned_invest_yuan", "money"),
    ("累计完成投资额", "done_invest_yuan", "money"),
    ("投资完成率", "investment_rate", "rate"),
    ("报送及时率", "timely_rate", "rate"),
    ("综合得分", "score_cents", "score"),
    ("排名", "score_rank", "int"),
    ("开工率排名", "start_rate_rank", "int"),
    ("投资完成率排名", "investment_rate_rank", "int"),
    ("报送及时率排名", "timely_rate_rank", "int"),
    ("开工率较上月(百分点)", "start_rate_change", "pp"),
    ("投资完成率较上月(百分点)", "investment_rate_change", "pp"),
    ("报送及时率较上月(百分点)", "timely_rate_change", "pp"),
    ("排名较上月", "rank_change", "int"),
    ("计划小区数", "plan_count", "int"),
    ("报送及时小区数", "timely_count", "int"),
    ("进度滞后", "lagging", "flag"),
]

OVERDUE_COLUMNS = [
    ("市州", "city"), ("所在县市区", "county"), ("小区名称", "name"), ("项目编号", "project_id"),
    ("原因", "reason"), ("原因说明", "reason_label"), ("详情", "detail"),
]


def money_wan(yuan) -> str:
    """元 → 万元, exact, 4 decimals (1 元 = 0.0001 万元)."""
    if yuan is None or pd.isna(yuan):
        return ""
    return f"{Decimal(int(yuan)) / Decimal(10000):.4f}"


def _csv_value(value, kind: str):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if kind == "rate" or kind == "pp":
        return repr(float(value))
    if kind == "money":
        return money_wan(value)
    if kind == "score":
        return format_score(int(value))
    if kind == "flag":
        return "是" if bool(value) else ""
    if kind == "int":
        return int(value)
    return value


def write_ranking_csv(path: Path, figures: pd.DataFrame) -> Path:
    rows = [[_csv_value(r[col], kind) for _, col, kind in RANKING_COLUMNS]
            for _, r in figures.iterrows()]
    return write_csv(path, [h for h, _, _ in RANKING_COLUMNS], rows)


def overdue_rows(overdue: pd.DataFrame) -> list[list]:
    return [[r.city, r.county, r["name"], r.project_id, r.reason, REASON_LABELS[r.reason],
             r.detail] for _, r in overdue.iterrows()]


def write_overdue_csv(path: Path, overdue: pd.DataFrame) -> Path:
    return write_csv(path, [h for h, _ in OVERDUE_COLUMNS], overdue_rows(overdue))


def _workbook_defaults(wb) -> None:
    from datetime import datetime  # noqa: PLC0415

    fixed = datetime(2000, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "renovation supervision"
    wb.properties.lastModifiedBy = None


def write_ranking_xlsx(path: Path, figures: pd.DataFrame, title: str) -> Path:
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Alignment, Border, Font, Side  # noqa: PLC0415

    wb = Workbook()
    _workbook_defaults(wb)
    ws = wb.active
    ws.title = "排名"
    headers = [h for h, _, _ in RANKING_COLUMNS]
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append(headers)
    thin = Side(style="thin")
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for _, r in figures.iterrows():
        row = []
        for _, col, kind in RANKING_COLUMNS:
            v = r[col]
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                row.append(None)
            elif kind == "money":
                row.append(float(Decimal(int(v)) / Decimal(10000)))
            elif kind == "score":
                row.append(int(v) / 100)
            elif kind == "flag":
                row.append("是" if bool(v) else None)
            elif kind in ("rate", "pp"):
                row.append(float(v))
            elif kind == "int":
                row.append(int(v))
            else:
                row.append(v)
        ws.append(row)
    for i, (_, _, kind) in enumerate(RANKING_COLUMNS, start=1):
        fmt = {"rate": "0.00%", "money": "#,##0.00", "score": "0.00", "pp": "+0.00;-0.00;0.00"}.get(kind)
        for row in ws.iter_rows(min_row=3, min_col=i, max_col=i):
            for cell in row:
                if fmt:
                    cell.number_format = fmt
                cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        ws.column_dimensions[ws.cell(row=2, column=i).column_letter].width = 12 if i > 1 else 14
    last = ws.max_row
    if ws.cell(row=last, column=1).value == PROVINCE_ROW:
        for cell in ws[last]:
            cell.font = Font(bold=True)
    ws.freeze_panes = "B3"
    wb.save(path)
    normalize_zip(path)
    return path


def write_overdue_xlsx(path: Path, overdue: pd.DataFrame, title: str) -> Path:
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Alignment, Font  # noqa: PLC0415

    wb = Workbook()
    _workbook_defaults(wb)
    ws = wb.active
    ws.title = "逾期清单"
    headers = [h for h, _ in OVERDUE_COLUMNS]
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append(headers)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in overdue_rows(overdue):
        ws.append(row)
    for col, width in zip("ABCDEFG", (12, 14, 28, 18, 26, 22, 30)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    ws.auto_filter.ref = f"A2:G{max(ws.max_row, 2)}"
    wb.save(path)
    normalize_zip(path)
    return path
