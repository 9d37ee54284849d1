"""The month's tables (SPEC §7): csv for machines — rates as fractions 0–1 unrounded, money in
万元 exact (4 decimals: 1 元 = 0.0001 万元), flags 是/empty — and an xlsx twin for people:
percentages with 2 decimals, money with 2 decimals and thousands separators, a title, notes
explaining the figures, print setup. Both are byte-identical for identical inputs.

Every table is one list of :class:`Col` (header, column of the warehouse table, kind), so the
csv and the xlsx cannot drift apart.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from .figures import PROVINCE_ROW, format_score
from .outputs import per_distinct, write_csv_columns
from .watch_lists import BASIC_REASONS

REASON_LABELS = {
    "MISSING_FROM_EXPORT": "系统中无该小区记录",
    "DATA_INVALID": "数据未通过校验",
    "NOT_STARTED_PAST_DEADLINE": "开工截止期后仍未开工",
    "NOT_REPORTED": "信息报送不及时",
    "NOT_REVIEWED": "监管责任人未审核",
    "PLAN_MISMATCH": "与计划申报信息不一致",
}


@dataclass(frozen=True)
class Col:
    header: str
    key: str
    kind: str = "text"   # text int rate pp money score flag valid number rank_change reason
    width: float = 12


# ranking.csv / the 全部指标 sheet of ranking.xlsx: the columns of SPEC §7 first, in its order
RANKING_COLUMNS = [
    Col("市州", "city", "text", 12),
    Col("任务数", "target_count", "int", 8),
    Col("累计开工数", "started_count", "int", 9),
    Col("开工率", "start_rate", "rate", 9),
    Col("按户数计开工率", "households_start_rate", "rate", 10),
    Col("累计完工数", "finished_count", "int", 9),
    Col("完工率", "finish_rate", "rate", 9),
    Col("计划投资额", "planned_invest_yuan", "money", 13),
    Col("累计完成投资额", "done_invest_yuan", "money", 13),
    Col("投资完成率", "investment_rate", "rate", 10),
    Col("报送及时率", "timely_rate", "rate", 10),
    Col("综合得分", "score_cents", "score", 9),
    Col("排名", "score_rank", "int", 6),
    Col("排名表位次", "list_order", "int", 8),
    Col("开工率排名", "start_rate_rank", "int", 8),
    Col("按户数计开工率排名", "households_start_rate_rank", "int", 10),
    Col("完工率排名", "finish_rate_rank", "int", 8),
    Col("投资完成率排名", "investment_rate_rank", "int", 9),
    Col("报送及时率排名", "timely_rate_rank", "int", 9),
    Col("开工率较上月(百分点)", "start_rate_change", "pp", 10),
    Col("按户数计开工率较上月(百分点)", "households_start_rate_change", "pp", 12),
    Col("完工率较上月(百分点)", "finish_rate_change", "pp", 10),
    Col("投资完成率较上月(百分点)", "investment_rate_change", "pp", 11),
    Col("报送及时率较上月(百分点)", "timely_rate_change", "pp", 11),
    Col("排名较上月", "rank_change", "rank_change", 8),
    Col("计划小区数", "plan_count", "int", 8),
    Col("报送及时小区数", "timely_count", "int", 9),
    Col("预期开工率", "expected_start_rate", "rate", 9),
    Col("预期投资完成率", "expected_investment_rate", "rate", 10),
    Col("开工率滞后", "start_lagging", "flag", 8),
    Col("投资完成率滞后", "investment_lagging", "flag", 9),
    Col("进度滞后", "lagging", "flag", 8),
]

# the first sheet of ranking.xlsx: the bulletin's table, as an official reads it
RANKING_SHEET = [
    Col("市州", "city", "text", 12),
    Col("任务数（个）", "target_count", "int", 8),
    Col("累计开工数（个）", "started_count", "int", 9),
    Col("开工率", "start_rate", "rate", 9),
    Col("按户数计开工率", "households_start_rate", "rate", 10),
    Col("累计完工数（个）", "finished_count", "int", 9),
    Col("完工率", "finish_rate", "rate", 9),
    Col("计划投资额（万元）", "planned_invest_yuan", "money", 13),
    Col("累计完成投资额（万元）", "done_invest_yuan", "money", 14),
    Col("投资完成率", "investment_rate", "rate", 10),
    Col("报送及时率", "timely_rate", "rate", 10),
    Col("综合得分", "score_cents", "score", 9),
    Col("排名", "score_rank", "int", 6),
    Col("排名较上月", "rank_change", "rank_change", 8),
    Col("进度滞后", "lagging", "flag", 8),
]

# a community as every list names it, and its two officers with their phones
COMMUNITY_COLUMNS = [
    Col("市州", "city", "text", 12), Col("所在县市区", "county", "text", 14),
    Col("小区名称", "name", "text", 28), Col("项目编号", "project_id", "text", 16),
]
OFFICER_COLUMNS = [
    Col("实施责任人", "impl_officer", "text", 9), Col("实施责任人电话", "impl_phone", "text", 14),
    Col("监管责任人", "sup_officer", "text", 9), Col("监管责任人电话", "sup_phone", "text", 14),
]

OVERDUE_COLUMNS = COMMUNITY_COLUMNS + [
    Col("原因", "reason", "text", 27), Col("原因说明", "reason_label", "text", 22),
    Col("详情", "detail", "text", 30),
]

# a city's own list, attached to its 督办通知: of what is mailed, only this carries the officers'
# phones, and only to their own city (the spot-check and N11 lists stay in the month folder)
NOTICE_LIST_COLUMNS = OVERDUE_COLUMNS + [
    Col("改造实施责任人", "impl_officer", "text", 10), Col("联系电话", "impl_phone", "text", 14),
    Col("日常监管责任人", "sup_officer", "text", 10), Col("联系电话", "sup_phone", "text", 14),
]

EARLY_WARNING_COLUMNS = [
    Col("市州", "city", "text", 12),
    Col("任务数", "target_count", "int", 8),
    Col("累计开工数", "started_count", "int", 9),
    Col("开工率", "start_rate", "rate", 9),
    Col("测算月数", "window_months", "int", 8),
    Col("测算起点(不含)", "window_after", "text", 12),
    Col("期内开工数", "started_in_window", "int", 9),
    Col("近期月均开工数", "monthly_pace", "number", 10),
    Col("开工截止日期", "deadline", "text", 12),
    Col("距截止月数", "months_left", "int", 8),
    Col("截止前应开工数", "needed_by_deadline", "int", 10),
    Col("预计截止时开工数", "projected_started", "number", 11),
    Col("预计截止时开工率", "projected_start_rate", "rate", 11),
    Col("需月均开工数", "required_monthly_pace", "number", 10),
    Col("预警", "will_miss", "flag", 6),
]

SPOT_CHECK_COLUMNS = [
    Col("市州", "city", "text", 12), Col("抽取序号", "draw", "int", 6),
    Col("记录数", "population", "int", 7), Col("抽取数", "sample_size", "int", 7),
    Col("项目编号", "project_id", "text", 16), Col("所在县市区", "county", "text", 14),
    Col("小区名称", "name", "text", 28), Col("改造状态", "status", "text", 9),
    Col("开工日期", "start_date", "text", 11), Col("完工日期", "finish_date", "text", 11),
    Col("计划总投资(万元)", "planned_invest_yuan", "money", 12),
    Col("累计完成投资(万元)", "done_invest_yuan", "money", 12),
    Col("加装电梯(部)", "elevators", "int", 8), Col("审核状态", "review_status", "text", 9),
    Col("填报日期", "reported_date", "text", 11),
] + OFFICER_COLUMNS + [
    Col("抽样键(SHA-256)", "sample_key", "text", 20),
]
# columns the inspectors fill in on site (xlsx only; the reported-vs-verified comparison of N8)
SPOT_CHECK_FILL_IN = [("核实改造状态", 10), ("核实累计完成投资(万元)", 12), ("核实结论", 24),
                      ("核查人", 9), ("核查日期", 11)]

BASIC_CATEGORY_COLUMNS = COMMUNITY_COLUMNS + [
    Col("原因", "reason", "text", 26), Col("原因说明", "reason_label", "text", 30),
    Col("基础类项数", "basic_count", "int", 8), Col("完善类项数", "improve_count", "int", 8),
    Col("提升类项数", "upgrade_count", "int", 8),
    Col("中央和省级资金(万元)", "central_provincial_yuan", "money", 12),
    Col("计划总投资(万元)", "planned_invest_yuan", "money", 12),
    Col("基础类改造内容", "basic_items", "text", 30),
    Col("完善类改造内容", "improve_items", "text", 24),
    Col("提升类改造内容", "upgrade_items", "text", 20),
    Col("数据校验", "is_valid", "valid", 8),
]

ELEVATOR_COLUMNS = COMMUNITY_COLUMNS + [
    Col("加装电梯(部)", "elevators", "int", 8), Col("改造状态", "status", "text", 9),
    Col("开工日期", "start_date", "text", 11),
    Col("计划总投资(万元)", "planned_invest_yuan", "money", 12),
    Col("累计完成投资(万元)", "done_invest_yuan", "money", 12),
] + OFFICER_COLUMNS + [Col("数据校验", "is_valid", "valid", 8)]


# --------------------------------------------------------------------------- values

def _empty(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def money_wan(yuan) -> str:
    """元 → 万元, exact, 4 decimals (1 元 = 0.0001 万元)."""
    if _empty(yuan):
        return ""
    return f"{Decimal(int(yuan)) / Decimal(10000):.4f}"


def _csv_value(value, kind: str):
    if kind == "flag":
        return "是" if not _empty(value) and bool(value) else ""
    if kind == "valid":
        return "通过" if bool(value) else "未通过"
    if _empty(value):
        return ""
    if kind in ("rate", "pp", "number"):
        return repr(float(value))
    if kind == "money":
        return money_wan(value)
    if kind == "score":
        return format_score(int(value))
    if kind in ("int", "rank_change"):
        return int(value)
    return value


def _xlsx_value(value, kind: str):
    if kind == "flag":
        return "是" if not _empty(value) and bool(value) else None
    if kind == "valid":
        return "通过" if bool(value) else "未通过"
    if _empty(value):
        return "—" if kind in ("rate", "pp", "number", "score") else None
    if kind == "money":
        return float(Decimal(int(value)) / Decimal(10000))
    if kind == "score":
        return int(value) / 100
    if kind in ("rate", "pp", "number"):
        return float(value)
    if kind in ("int", "rank_change"):
        return int(value)
    return value


NUMBER_FORMATS = {"rate": "0.00%", "money": "#,##0.00", "score": "0.00", "number": "0.00",
                  "pp": "+0.00;-0.00;0.00", "rank_change": "+0;-0;0", "int": "0"}


def _rows(frame: pd.DataFrame, columns: Sequence[Col]) -> list[dict[str, Any]]:
    records = frame.to_dict("records")
    for r in records:
        if "reason" in r and "reason_label" not in r:
            r["reason_label"] = REASON_LABELS.get(r["reason"]) or BASIC_REASONS.get(r["reason"], "")
    return records


def _source(frame: pd.DataFrame, key: str) -> pd.Series | None:
    """A table's column ``key`` (``reason_label`` derived from ``reason`` when the frame has
    no label, as :func:`_rows` does), None when the frame has neither."""
    if key in frame.columns:
        return frame[key]
    if key == "reason_label" and "reason" in frame.columns:
        return pd.Series([REASON_LABELS.get(r) or BASIC_REASONS.get(r, "")
                          for r in frame["reason"].tolist()], index=frame.index, dtype=object)
    return None


def _csv_column(values: list[Any], kind: str) -> list[Any]:
    """:func:`_csv_value` of each cell, computed once per distinct cell."""
    return per_distinct(lambda v: _csv_value(v, kind), values)


def write_table_csv(path: Path, columns: Sequence[Col], frame: pd.DataFrame) -> Path:
    """A table's csv, column by column (a national month's lists are 100,000 rows)."""
    sources = [_source(frame, c.key) for c in columns]
    return write_csv_columns(path, [c.header for c in columns], [
        _csv_column(src.tolist() if src is not None else [None] * len(frame), c.kind)
        for c, src in zip(columns, sources)])


# --------------------------------------------------------------------------- xlsx

@dataclass(frozen=True)
class Sheet:
    name: str
    title: str
    columns: Sequence[Col]
    frame: pd.DataFrame
    subtitle: str | None = None
    notes: Sequence[str] = ()
    numbered: bool = True              # a 序号 column first (the 全省 row gets none)
    fill_in: Sequence[tuple[str, float]] = ()
    autofilter: bool = True


class _Formats:
    """The workbook's cell formats (XlsxWriter formats are created once per workbook)."""

    def __init__(self, wb):
        self.wb = wb
        self._cache: dict[tuple, Any] = {}
        self.title = wb.add_format({"bold": True, "font_size": 14, "align": "center",
                                    "valign": "vcenter"})
        self.subtitle = wb.add_format({"align": "right"})
        self.header = wb.add_format({"bold": True, "align": "center", "valign": "vcenter",
                                     "text_wrap": True, "bg_color": "#D9D9D9", "border": 1})
        self.note = wb.add_format({"text_wrap": True, "valign": "top"})

    def cell(self, kind: str, centered: bool, bold: bool):
        key = (kind, centered, bold)
        if key not in self._cache:
            spec: dict[str, Any] = {"border": 1}
            if centered:
                spec["align"] = "center"
            elif kind in NUMBER_FORMATS:
                spec["num_format"] = NUMBER_FORMATS[kind]
            if bold:
                spec["bold"] = True
            self._cache[key] = self.wb.add_format(spec)
        return self._cache[key]


# --------------------------------------------------------------------------- the rows of a sheet

_DASH = "—"     # a rate, score or number whose denominator is 0 (centered)

# the data rows of the long lists as XML built column by column (:func:`_write_body_raw`), not
# through XlsxWriter's cell writers (~15 µs a cell; issue 17): same bytes, False for the tests
FAST_ROWS = True


def _column_values(frame: pd.DataFrame, key: str, kind: str, n: int) -> list:
    """One column's cell values, as :func:`_xlsx_value` gives them cell by cell, converted once
    for the whole column: None (a ruled blank), str or a number."""
    series = _source(frame, key)
    if series is None:
        return [_xlsx_value(None, kind)] * n
    values = series.tolist()
    if kind in ("flag", "valid"):
        return [_xlsx_value(v, kind) for v in values]
    missing = series.isna().to_numpy()
    empty = "—" if kind in ("rate", "pp", "number", "score") else None
    if kind == "money":          # int(元) / 10000 is the correctly rounded float of the exact
        convert = lambda v: int(v) / 10000  # noqa: E731  万元, as float(Decimal(元)/Decimal(10000))
    elif kind == "score":
        convert = lambda v: int(v) / 100  # noqa: E731
    elif kind in ("rate", "pp", "number"):
        convert = float
    elif kind in ("int", "rank_change"):
        convert = int
    else:
        convert = None
    if not missing.any():
        return values if convert is None else [convert(v) for v in values]
    if convert is None:
        return [empty if m else v for v, m in zip(values, missing)]
    return [empty if m else convert(v) for v, m in zip(values, missing)]


@dataclass
class _Body:
    """A sheet's data rows, column by column: ``values[j]`` the cells of column ``j`` (序号 and
    the fill-in columns included), ``totals`` which rows are the 全省 row (bold, no 序号)."""
    kinds: list[str]           # the format kind of each column ("seq" for 序号)
    centered: list[bool]       # columns centered whatever the value (序号, flags)
    values: list[list]
    totals: list[bool]

    @classmethod
    def of(cls, sheet: Sheet) -> "_Body":
        frame, n = sheet.frame, len(sheet.frame)
        totals = ((frame["city"] == PROVINCE_ROW).tolist() if "city" in frame.columns
                  else [False] * n)
        values = [_column_values(frame, c.key, c.kind, n) for c in sheet.columns]
        kinds = [c.kind for c in sheet.columns]
        centered = [c.kind in ("flag", "valid") for c in sheet.columns]
        if sheet.numbered:
            seq, numbers = 0, []
            for is_total in totals:
                seq += 0 if is_total else 1
                numbers.append(None if is_total else seq)
            values, kinds, centered = [numbers] + values, ["seq"] + kinds, [True] + centered
        for _ in sheet.fill_in:
            values.append([None] * n)
            kinds.append("text")
            centered.append(False)
        return cls(kinds, centered, values, totals)

    def variants(self, j: int) -> list[int]:
        """Which format each cell of column ``j`` takes: 1 centered ("—"), 2 bold (全省)."""
        totals = self.totals
        if self.centered[j]:
            return [3 if t else 1 for t in totals] if any(totals) else [1] * len(totals)
        if any(totals):
            return [(v == _DASH) + 2 * t for v, t in zip(self.values[j], totals)]
        return [int(v == _DASH) for v in self.values[j]]


def _write_body_cells(ws, formats: _Formats, body: _Body, first_row: int) -> None:
    """The data rows through XlsxWriter's typed cell writers, one call a cell."""
    fmts = []
    for j, kind in enumerate(body.kinds):
        table = [formats.cell(kind, bool(k & 1), bool(k & 2)) for k in range(4)]
        fmts.append([table[k] for k in body.variants(j)])
    write_blank, write_string, write_number = ws.write_blank, ws.write_string, ws.write_number
    for i, row in enumerate(zip(*body.values)):
        r = first_row + i
        for j, value in enumerate(row):
            fmt = fmts[j][i]
            if value is None:
                write_blank(r, j, None, fmt)
            elif value.__class__ is str:
                write_string(r, j, value, fmt)
            else:
                write_number(r, j, value, fmt)


_PLAIN_TYPES = (int, float, bool)


def _raw_rows_possible(ws, body: _Body, first_row: int) -> bool:
    """Whether :func:`_write_body_raw` writes exactly what the cell writers would: a
    constant-memory worksheet of the layout XlsxWriter 3.x writes (inline strings, rows without
    spans or heights), rows within the sheet, cells that are None, str or finite plain numbers
    (anything else goes through the cell writers, which reject or convert it as before)."""
    if not (getattr(ws, "constant_memory", False) and getattr(ws, "excel_version", None) == 2007
            and getattr(ws, "previous_row", None) == first_row - 1
            and hasattr(ws, "_write_single_row") and hasattr(ws, "fh")
            and first_row + len(body.totals) <= getattr(ws, "xls_rowmax", 0)
            and not getattr(ws, "row_info", {}).keys() & range(first_row, first_row + len(body.totals))):
        return False
    for column in body.values:
        for cls in {v.__class__ for v in column}:
            if cls is float:
                if not all(math.isfinite(v) for v in column if v.__class__ is float):
                    return False
            elif cls is not str and cls not in _PLAIN_TYPES and cls is not type(None):
                return False
    return True


# what XlsxWriter escapes or marks in an inline string (control characters, _xHHHH_, XML
# specials, leading or trailing whitespace); a string with none of it is written as it is
_NOT_PLAIN = re.compile(r"[\x00-\x08\x0b-\x1f&<>\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")


def _inline_string(ws, string: str) -> str:
    """The end of a ``<c>`` element of an inline string, as XlsxWriter writes it."""
    if len(string) <= ws.xls_strmax // 2 and not _NOT_PLAIN.search(string):
        return f' t="inlineStr"><is><t>{string}</t></is></c>'
    from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate  # noqa: PLC0415

    if len(string) > ws.xls_strmax // 2 and _utf16_len(string) > ws.xls_strmax:
        string = _utf16_truncate(string, ws.xls_strmax)
    string = ws._escape_control_characters(string)
    if string.startswith("<r>") and string.endswith("</r>"):
        return f' t="inlineStr"><is>{string}</is></c>'
    preserve = ' xml:space="preserve"' if _preserve_whitespace(string) else ""
    return f' t="inlineStr"><is><t{preserve}>{ws._escape_data(string)}</t></is></c>'


_RAW_BLOCK = 20_000   # rows appended to the row file at once


def _write_body_raw(ws, formats: _Formats, body: _Body, first_row: int) -> None:
    """The data rows as the XML XlsxWriter's constant-memory writer produces for them (the same
    bytes as :func:`_write_body_cells`, checked by the tests), built column by column and
    appended to the worksheet's row file in blocks: no per-cell method calls."""
    from xlsxwriter.utility import xl_col_to_name  # noqa: PLC0415

    n, width = len(body.totals), len(body.values)
    # formats get their style index in the order the cell writers would meet them: row by row
    variants = [body.variants(j) for j in range(width)]
    firsts = sorted((column.index(k), j, k) for j, column in enumerate(variants)
                    for k in set(column))
    xf: list[dict[int, int]] = [{} for _ in range(width)]
    ws._write_single_row(first_row)          # the header row out; the data rows follow it
    for _, j, k in firsts:
        xf[j][k] = formats.cell(body.kinds[j], bool(k & 1), bool(k & 2))._get_xf_index()
    letters = [xl_col_to_name(j) for j in range(width)]
    strings: dict[str, str] = {}
    fh = ws.fh
    for start in range(0, n, _RAW_BLOCK):
        stop = min(n, start + _RAW_BLOCK)
        numbers = range(first_row + 1 + start, first_row + 1 + stop)
        columns = []
        for j in range(width):
            letter, styles = letters[j], xf[j]
            if len(styles) == 1:
                (s,) = styles.values()
                attrs = [f'<c r="{letter}{r}" s="{s}"' for r in numbers]
            else:
                attrs = [f'<c r="{letter}{r}" s="{styles[k]}"'
                         for r, k in zip(numbers, variants[j][start:stop])]
            cells = []
            for a, v in zip(attrs, body.values[j][start:stop]):
                if v is None:
                    cells.append(a + "/>")
                elif v.__class__ is str:
                    end = strings.get(v)
                    if end is None:
                        end = strings[v] = _inline_string(ws, v)
                    cells.append(a + end)
                else:
                    cells.append(f"{a}><v>{v:.16G}</v></c>")
            columns.append(cells)
        fh.write("".join([f'<row r="{r}">' + "".join(cells) + "</row>"
                          for r, cells in zip(numbers, zip(*columns))]))
    last = first_row + n - 1
    ws._check_dimensions(last, 0)
    ws._check_dimensions(last, width - 1)
    ws.previous_row = last


def _write_sheet(wb, formats: _Formats, sheet: Sheet) -> None:
    """One sheet: merged title (and subtitle), a ruled header, the rows with number formats,
    notes below; frozen header, autofilter, printed landscape on A4 at page width. Written row
    by row (XlsxWriter, constant memory): linear in the number of rows; the values converted
    column by column (:class:`_Body`), the data rows as XML in blocks (:func:`_write_body_raw`)."""
    ws = wb.add_worksheet(sheet.name)
    headers = ([("序号", 6)] if sheet.numbered else []) + [(c.header, c.width) for c in sheet.columns] \
        + list(sheet.fill_in)
    width = len(headers)
    offset = 1 if sheet.numbered else 0
    for i, (_, w) in enumerate(headers):
        ws.set_column(i, i, w)
    ws.set_row(0, 28)
    ws.merge_range(0, 0, 0, width - 1, sheet.title, formats.title)
    header_row = 1
    if sheet.subtitle:
        ws.merge_range(1, 0, 1, width - 1, sheet.subtitle, formats.subtitle)
        header_row = 2
    ws.set_row(header_row, 32)
    for i, (h, _) in enumerate(headers):
        ws.write_string(header_row, i, h, formats.header)
    body = _Body.of(sheet)
    first, n = header_row + 1, len(body.totals)
    if n and FAST_ROWS and _raw_rows_possible(ws, body, first):
        _write_body_raw(ws, formats, body, first)
    elif n:
        _write_body_cells(ws, formats, body, first)
    row = header_row + n
    last = row
    for note in sheet.notes:
        row += 1
        ws.set_row(row, 15 * (1 + len(note) // 90))
        ws.merge_range(row, 0, row, width - 1, note, formats.note)
    ws.freeze_panes(header_row + 1, offset + 1)
    if sheet.autofilter and last > header_row:
        ws.autofilter(header_row, 0, last, width - 1)
    ws.repeat_rows(header_row)
    ws.set_landscape()
    ws.set_paper(9)           # A4
    ws.fit_to_pages(1, 0)     # one page wide, as many pages long as needed


def write_xlsx(path: Path, sheets: Iterable[Sheet]) -> Path:
    from datetime import datetime  # noqa: PLC0415

    import xlsxwriter  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": datetime(2000, 1, 1), "author": "renovation supervision"})
    formats = _Formats(wb)
    for sheet in sheets:
        _write_sheet(wb, formats, sheet)
    wb.close()
    # no normalize_zip (which recompressed every entry: a third of the time of a long list's
    # workbook): XlsxWriter's file is already reproducible — its parts dated 1980-01-31 by
    # os.utime on its own temporary files, mode 0600, docProps dated by `created` above
    # (test_tables: the same bytes under other time zones, umasks and moments)
    return path


# --------------------------------------------------------------------------- the month's tables

def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def ranking_notes(figures: pd.DataFrame, weights: dict[str, float]) -> list[str]:
    w = {k: f"{v:g}" for k, v in weights.items()}
    first = figures.iloc[0] if not figures.empty else None
    expected = ("" if first is None else
                f"（本月预期开工率{_pct(first.expected_start_rate)}、"
                f"预期投资完成率{_pct(first.expected_investment_rate)}）")
    return [
        f"注：1. 综合得分=100×({w['start_rate']}×开工率+{w['investment_rate']}×投资完成率+"
        f"{w['timely_rate']}×报送及时率)，各项比率超过100%的按100%计分，分母为0的比率记为“—”、"
        "按0计分；得分按四舍五入保留两位小数。",
        "2. 排名按综合得分由高到低，得分相同者名次并列（如1、2、2、4）；全省行不参与排名。",
        "3. 开工率、完工率以任务数为分母，按户数计开工率以计划小区户数为分母，投资完成率=累计完成投资额÷计划投资额，"
        "报送及时率以计划小区数为分母；比率超过100%的按实际显示。",
        f"4. 进度滞后：开工率或投资完成率低于本月预期进度{expected}。",
    ]


def write_ranking_csv(path: Path, figures: pd.DataFrame) -> Path:
    return write_table_csv(path, RANKING_COLUMNS, figures)


def write_ranking_xlsx(path: Path, figures: pd.DataFrame, title: str, subtitle: str | None = None,
                       weights: dict[str, float] | None = None) -> Path:
    notes = ranking_notes(figures, weights or {"start_rate": 0.5, "investment_rate": 0.3,
                                               "timely_rate": 0.2})
    return write_xlsx(path, [
        Sheet("综合排名", title, RANKING_SHEET, figures, subtitle, notes, autofilter=False),
        Sheet("全部指标", title, RANKING_COLUMNS, figures, subtitle, notes[:1], autofilter=False),
    ])


def write_overdue_csv(path: Path, overdue: pd.DataFrame) -> Path:
    return write_table_csv(path, OVERDUE_COLUMNS, overdue)


def write_overdue_xlsx(path: Path, overdue: pd.DataFrame, title: str,
                       subtitle: str | None = None) -> Path:
    notes = ["注：原因代码：" + "；".join(f"{k} {v}" for k, v in REASON_LABELS.items()) + "。"
             "一个小区有多个原因时每个原因一行。"]
    return write_xlsx(path, [Sheet("逾期清单", title, OVERDUE_COLUMNS, overdue, subtitle, notes)])


def write_notice_list_xlsx(path: Path, items: pd.DataFrame, title: str) -> Path:
    """One city's overdue communities with their officers, attached to its 督办通知."""
    notes = ["注：一个小区有多个问题时每个问题一行；责任人及联系电话取自“系统”记录，无记录的取自计划项目汇总表。"]
    return write_xlsx(path, [Sheet("问题小区清单", title, NOTICE_LIST_COLUMNS, items, None, notes)])


def write_early_warning(folder: Path, rows: pd.DataFrame, title: str,
                        subtitle: str | None = None) -> list[Path]:
    notes = ["注：近期月均开工数=测算期内开工的小区数÷测算月数（按本月导出数据中的开工日期统计）；"
             "预计截止时开工数=累计开工数+近期月均开工数×距截止月数；按此进度预计截止时开工数少于应开工数的标注“预警”。"]
    return [write_table_csv(folder / "early_warning.csv", EARLY_WARNING_COLUMNS, rows),
            write_xlsx(folder / "early_warning.xlsx",
                       [Sheet("开工预警", title, EARLY_WARNING_COLUMNS, rows, subtitle, notes,
                              autofilter=False)])]


def write_spot_checks(folder: Path, rows: pd.DataFrame, title: str,
                      subtitle: str | None = None) -> list[Path]:
    notes = ["注：各市州按“数据月份|导出快照SHA-256|项目编号”的SHA-256值（省级设定抽查密钥的，为以密钥计算的"
             "HMAC-SHA256值）从小到大抽取，抽取数=max(每市州最少抽取数, 向上取整(抽取比例×记录数))；"
             "快照生成前无法预知，生成后可据manifest.json所记快照SHA-256（及密钥）重新抽取核对。"]
    return [write_table_csv(folder / "spot_checks.csv", SPOT_CHECK_COLUMNS, rows),
            write_xlsx(folder / "spot_checks.xlsx",
                       [Sheet("抽查样本", title, SPOT_CHECK_COLUMNS, rows, subtitle, notes,
                              fill_in=SPOT_CHECK_FILL_IN)])]


def write_basic_category(folder: Path, rows: pd.DataFrame, title: str,
                         subtitle: str | None = None) -> list[Path]:
    notes = ["注：" + "；".join(f"{k} {v}" for k, v in BASIC_REASONS.items()) +
             "。系统未按类别填报资金，后者以基础类项数占全部改造项数的比例衡量，列入本清单的需核实，不作为认定结论。"]
    return [write_table_csv(folder / "basic_category.csv", BASIC_CATEGORY_COLUMNS, rows),
            write_xlsx(folder / "basic_category.xlsx",
                       [Sheet("基础类改造", title, BASIC_CATEGORY_COLUMNS, rows, subtitle, notes)])]


def write_elevators(folder: Path, rows: pd.DataFrame, title: str,
                    subtitle: str | None = None) -> list[Path]:
    notes = ["注：本月导出数据中加装电梯数大于0且改造状态为“已开工”的计划内小区；数据未通过校验的也列入，以免遗漏在建工地。"]
    return [write_table_csv(folder / "elevators.csv", ELEVATOR_COLUMNS, rows),
            write_xlsx(folder / "elevators.xlsx",
                       [Sheet("加装电梯", title, ELEVATOR_COLUMNS, rows, subtitle, notes)])]
