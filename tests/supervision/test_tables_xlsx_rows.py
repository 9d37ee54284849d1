"""The xlsx twins' data rows (issue 17): written as XML column by column (tables.FAST_ROWS), they
are the same bytes as through XlsxWriter's cell writers, cell for cell the values of
``tables._xlsx_value``; anything the fast path does not cover goes through the cell writers."""
from __future__ import annotations

import math
import zipfile
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervision import figures, tables
from supervision import warehouse as wh
from supervision.config import load_programme
from supervision.months import Month
from supervision.pipeline import compute_month_figures

from tests.supervision.figure_warehouse import june_2020

MAY, JUNE = Month(2020, 5), Month(2020, 6)

# strings XlsxWriter escapes or marks: control characters, its own _xHHHH_ escape, XML specials,
# whitespace at either end, a rich-string lookalike, non-characters, past the 32,767 limit
AWKWARD = ["普通", "", " 前导空格", "末尾空格 ", "a\nb", "line\n", "tab\t", "ctl\x01\x1f", "_x0041_",
           "A & B <c> \"q\" 'a'", "<r>rich</r>", "\ufffe\uffff", "—", "x" * 16_383, "长" * 40_000,
           "😀" * 17_000]


@pytest.fixture(scope="module")
def month_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rows")
    engine = wh.connect(f"sqlite:///{folder / 'warehouse.db'}")
    june_2020().load(engine)
    p = load_programme(2020)
    with engine.begin() as conn:
        figures.compute_city_figures(conn, p, MAY)
        data = compute_month_figures(conn, p, JUNE)
    engine.dispose()
    return data, p


def _write_all(folder, data, p):
    folder.mkdir(parents=True, exist_ok=True)
    tables.write_ranking_xlsx(folder / "ranking.xlsx", data["figures"], "标题", "副标题", p.weights)
    tables.write_overdue_xlsx(folder / "overdue.xlsx", data["overdue"], "逾期清单")
    tables.write_notice_list_xlsx(folder / "notice.xlsx", data["overdue"], "问题小区")
    tables.write_early_warning(folder, data["warnings"], "预警")
    tables.write_spot_checks(folder, data["sample"], "抽查")
    tables.write_basic_category(folder, data["basic"], "基础类")
    tables.write_elevators(folder, data["elevators"], "电梯")
    return sorted(p.name for p in folder.glob("*.xlsx"))


def _both(monkeypatch, tmp_path, write):
    """``write(folder)`` once through the cell writers, once through the fast rows."""
    monkeypatch.setattr(tables, "FAST_ROWS", False)
    cells = write(tmp_path / "cells")
    monkeypatch.setattr(tables, "FAST_ROWS", True)
    fast = write(tmp_path / "fast")
    return cells, fast


def test_the_month_tables_are_the_same_bytes_either_way(month_data, monkeypatch, tmp_path):
    data, p = month_data
    names, _ = _both(monkeypatch, tmp_path, lambda folder: _write_all(folder, data, p))
    assert len(names) == 7
    for name in names:
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "cells" / name).read_bytes(), name


def _awkward_frame(n=None):
    short = [a for a in AWKWARD if len(a) < 100]
    strings = AWKWARD if n is None else (short * (n // len(short) + 1))[:n]
    size = len(strings)
    return pd.DataFrame({
        "city": [figures.PROVINCE_ROW if i % 5 == 4 else f"市{i % 3}" for i in range(size)],
        "name": strings,
        "count": [None if i % 4 == 0 else i * 7 for i in range(size)],           # float + NaN
        "big": [2**63 - 1 - i if i % 2 else -(10**12) - i for i in range(size)],  # int64
        "rate": [float("nan") if i % 3 == 0 else i / 7 for i in range(size)],
        "pp": [(-1) ** i * i / 3 for i in range(size)],
        "money": [i * 123_456_789_013 + 1 for i in range(size)],
        "score": [None if i % 6 == 0 else 1234 + i for i in range(size)],
        "flag": [[True, False, None, float("nan")][i % 4] for i in range(size)],
        "valid": [bool(i % 2) for i in range(size)],
        "text_num": [i if i % 2 else None for i in range(size)],                  # numbers in text
        "dash": ["—" if i % 2 else "x" for i in range(size)],
    })


AWKWARD_COLUMNS = [tables.Col("市州", "city"), tables.Col("名称", "name"), tables.Col("数", "count", "int"),
                   tables.Col("大数", "big", "rank_change"), tables.Col("率", "rate", "rate"),
                   tables.Col("百分点", "pp", "pp"), tables.Col("金额", "money", "money"),
                   tables.Col("分", "score", "score"), tables.Col("是否", "flag", "flag"),
                   tables.Col("校验", "valid", "valid"), tables.Col("文本", "text_num"),
                   tables.Col("横线", "dash"), tables.Col("无此列", "absent", "number"),
                   tables.Col("无此列2", "absent2", "flag"), tables.Col("原因说明", "reason_label")]


def _awkward_book(frame, **sheet):
    def write(folder):
        folder.mkdir(parents=True, exist_ok=True)
        tables.write_xlsx(folder / "t.xlsx", [
            tables.Sheet("一", "标题", AWKWARD_COLUMNS, frame, "副标题", ["注一", "注二" * 80],
                         fill_in=[("填写", 9)], **sheet),
            tables.Sheet("二", "标题二", AWKWARD_COLUMNS[:4], frame, numbered=False),
            tables.Sheet("空", "空表", AWKWARD_COLUMNS[:3], frame.iloc[:0])])
        return folder / "t.xlsx"
    return write


def test_awkward_values_are_the_same_bytes_either_way(monkeypatch, tmp_path):
    monkeypatch.setattr(tables, "_RAW_BLOCK", 7)      # rows in several blocks
    for i, frame in enumerate([_awkward_frame(), _awkward_frame(100)]):
        cells, fast = _both(monkeypatch, tmp_path / str(i), _awkward_book(frame))
        assert fast.read_bytes() == cells.read_bytes()


def test_cell_values_and_formats_are_those_of_xlsx_value(monkeypatch, tmp_path):
    frame = _awkward_frame()
    monkeypatch.setattr(tables, "FAST_ROWS", True)
    path = _awkward_book(frame)(tmp_path)
    ws = openpyxl.load_workbook(path)["一"]
    header = 3                                     # title, subtitle, header
    records = frame.to_dict("records")
    seq = 0
    for i, r in enumerate(records):
        row = [c.value for c in ws[header + 1 + i]]
        total = r["city"] == figures.PROVINCE_ROW
        seq += 0 if total else 1
        assert row[0] == (None if total else seq)
        for j, col in enumerate(AWKWARD_COLUMNS, start=1):
            expected = tables._xlsx_value(r.get(col.key), col.kind)
            got = row[j]
            if isinstance(expected, str):
                if any(ch < " " and ch not in "\t\n" or ch in "\ufffe\uffff" for ch in expected) \
                        or "_x" in expected or expected.startswith("<r>"):
                    continue   # _xHHHH_ escapes Excel reads back (openpyxl does not); XlsxWriter's rich run
                if len(expected) > 16_383:   # truncated to 32,767 UTF-16 units, as XlsxWriter does
                    assert len(got) > 16_000 and expected.startswith(got)
                    continue
            elif isinstance(expected, (int, float)):
                expected = float(f"{expected:.16G}")   # XlsxWriter writes 16 significant digits
            assert got == expected or (expected is None and got is None), (i, col.key, got, expected)
            cell = ws.cell(header + 1 + i, j + 1)
            assert cell.font.b == total
            if expected == "—" or col.kind in ("flag", "valid"):
                assert cell.alignment.horizontal == "center"
            elif col.kind in tables.NUMBER_FORMATS:
                assert cell.number_format == tables.NUMBER_FORMATS[col.kind]
    assert ws.freeze_panes == "C4"
    assert ws.auto_filter.ref == f"A3:Q{header + len(records)}"   # 序号, 15 columns, 填写
    assert ws.print_title_rows == "$3:$3"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9


def _outcome(path, sheets):
    try:
        return tables.write_xlsx(path, sheets).read_bytes()
    except Exception as e:  # noqa: BLE001
        return type(e)


def test_what_the_fast_rows_do_not_cover_goes_through_the_cell_writers(monkeypatch, tmp_path):
    calls = []
    cells_writer = tables._write_body_cells
    monkeypatch.setattr(tables, "_write_body_cells", lambda *a: calls.append(1) or cells_writer(*a))
    cases = [("text", ["a", pd.Timestamp("2020-06-30")]), ("text", ["a", Decimal("1.5")]),
             ("rate", [0.5, math.inf]), ("number", [0.5, -math.inf])]
    for i, (kind, values) in enumerate(cases):
        sheets = [tables.Sheet("s", "t", [tables.Col("列", "v", kind)], pd.DataFrame({"v": values}))]
        monkeypatch.setattr(tables, "FAST_ROWS", False)
        before = _outcome(tmp_path / f"{i}-cells.xlsx", sheets)
        monkeypatch.setattr(tables, "FAST_ROWS", True)
        assert _outcome(tmp_path / f"{i}-fast.xlsx", sheets) == before, values
    assert len(calls) == 2 * len(cases)


def test_the_xml_is_inline_strings_in_rows_without_attributes(monkeypatch, tmp_path):
    monkeypatch.setattr(tables, "FAST_ROWS", True)
    path = _awkward_book(_awkward_frame())(tmp_path)
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert '<row r="4"><c r="A4" s="' in xml and 't="inlineStr"><is><t xml:space="preserve"> 前导空格</t>' in xml
    assert "_x005F_x0041_" in xml and "ctl_x0001__x001F_" in xml and "A &amp; B &lt;c&gt;" in xml


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_money_by_the_column_is_the_decimal_quotient(yuan):
    frame = pd.DataFrame({"m": pd.Series([yuan], dtype=object)})
    (value,) = tables._column_values(frame, "m", "money", 1)
    assert value == float(Decimal(yuan) / Decimal(10000))
