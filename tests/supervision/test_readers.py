import pytest
from openpyxl import Workbook

from supervision.errors import InputFileError
from supervision.readers import read_table


def _xlsx(path, rows, sheet="Sheet1"):
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def write_export(tmp_path, grid, as_csv: bool):
    """The grid as an export named for 2020-07-01, csv (UTF-8) or xlsx."""
    path = tmp_path / ("e_2020-07-01.csv" if as_csv else "e_2020-07-01.xlsx")
    if as_csv:
        path.write_text("\n".join(",".join("" if c is None else str(c) for c in r) for r in grid),
                        encoding="utf-8")
    else:
        _xlsx(path, grid)
    return path


HEADER = ["序号", "项目编号", "市州", "所在县市区", "小区名称", "改造状态", "开工日期", "完工日期",
          "计划总投资（万元）", "累计完成投资（万元）", "填报时间", "审核状态"]


def test_header_below_title_rows_and_summary_rows_skipped(tmp_path):
    path = _xlsx(tmp_path / "e_2020-07-01.xlsx", [
        ["湖南智慧住建平台 导出"], ["导出时间：2020-07-01"], [],
        HEADER,
        [1, "P1", "长沙市", "芙蓉区", "甲小区", "已开工", "2020-06-01", None, 100, 10, "2020-06-20", "已审核"],
        [],
        [2, "P2", "长沙市", "天心区", "乙小区", "未开工", None, None, 50, 0, "2020-06-21", "待审核"],
        ["合计", None, None, None, "2个小区", None, None, None, 150, 10],
    ])
    t = read_table(path, "export")
    assert t.header_row == 4
    assert [r["source_row"] for r in t.records] == [5, 7]
    assert t.records[0]["project_id"] == "P1"
    assert t.columns["planned_invest"] == "计划总投资（万元）"  # full-width brackets recognised
    assert t.unknown_columns == ["序号"]
    assert {s.reason for s in t.skipped} == {"title", "summary"}
    # column by column, the same cells as the records; a field the file lacks reads as None
    assert t.column("project_id") == ["P1", "P2"] and t.column("households") == [None, None]
    t.release()
    assert t.rows_read == 2 and t.records == []


def test_missing_required_column_names_file_and_column(tmp_path):
    path = _xlsx(tmp_path / "e_2020-07-01.xlsx", [[h for h in HEADER if h != "审核状态"]])
    with pytest.raises(InputFileError, match=r"e_2020-07-01.xlsx.*审核状态"):
        read_table(path, "export")


def test_gbk_csv_with_header_variants(tmp_path):
    header = ",".join(h.replace("计划总投资（万元）", "计划总投资") for h in HEADER)
    body = "1,P1,长沙市,芙蓉区,甲小区,已开工,2020/6/1,,100,10,2020-06-20,已审核"
    path = tmp_path / "e_2020-07-01.csv"
    path.write_bytes(f"{header}\r\n{body}\r\n".encode("gbk"))
    t = read_table(path, "export")
    assert t.encoding == "gb18030"
    assert t.records[0]["name"] == "甲小区"
    assert t.records[0]["start_date"] == "2020/6/1"


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "e_2020-07-01.csv"
    path.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        read_table(path, "export")


def test_wrong_sheet_names_the_sheets(tmp_path):
    path = _xlsx(tmp_path / "e_2020-07-01.xlsx", [["随便", "什么"], [1, 2]], sheet="说明")
    with pytest.raises(InputFileError, match="说明"):
        read_table(path, "export")


# --------------------------------------------------------------------------- nothing is lost

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from supervision.readers import table_spec  # noqa: E402

_LINES = st.sampled_from(["record", "blank", "note", "summary", "seq_only", "header"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(titles=st.integers(0, 4), lines=st.lists(_LINES, min_size=1, max_size=25),
       as_csv=st.booleans())
def test_every_row_is_a_record_or_listed_as_skipped(tmp_path, titles, lines, as_csv):
    """Whatever mix of records, blank, 注, 合计, 序号-only and repeated header rows follows the
    header, each record is read once with its own row number and every other non-blank row is
    listed with the reason it is not a record."""
    grid = [[f"标题{i}"] for i in range(titles)] + [HEADER]
    expected_records, expected_skipped = [], []
    for n, kind in enumerate(lines):
        row_number = len(grid) + 1
        if kind == "record":
            pid = f"P{n}"
            grid.append([n, pid, "长沙市", "芙蓉区", f"小区{n}", "未开工", None, None, 10, 0,
                         "2020-06-20", "已审核"])
            expected_records.append((row_number, pid))
        elif kind == "blank":
            grid.append([None, None])
        elif kind == "note":
            grid.append([f"注：第{n}条说明，数据以系统为准。"])
            expected_skipped.append((row_number, "note"))
        elif kind == "summary":
            grid.append(["合计", None, None, None, f"{n}个小区", None, None, None, 100, 10])
            expected_skipped.append((row_number, "summary"))
        elif kind == "seq_only":
            grid.append([n])
            expected_skipped.append((row_number, "no_data"))
        else:
            grid.append(list(HEADER))
            expected_skipped.append((row_number, "header"))
    if not expected_records and all(k in ("blank",) for k in lines):
        grid.append(["合计"])
        expected_skipped.append((len(grid), "summary"))
    t = read_table(write_export(tmp_path, grid, as_csv), "export")
    assert t.header_row == titles + 1
    assert [(r["source_row"], r["project_id"]) for r in t.records] == expected_records
    assert [(s.row, s.reason) for s in t.skipped if s.reason != "title"] == expected_skipped
    assert [s.row for s in t.skipped if s.reason == "title"] == list(range(1, titles + 1))


def test_a_record_is_never_skipped_for_what_it_says(tmp_path):
    """A row with its 项目编号 filled is a record even when it reads like a 合计 or 注 line."""
    path = _xlsx(tmp_path / "e_2020-07-01.xlsx", [
        HEADER,
        ["合计", "P1", "长沙市", "芙蓉区", "合计小区", "未开工", None, None, 1, 0, "2020-06-20", "已审核"],
        ["注", "P2"],
    ])
    t = read_table(path, "export")
    assert [r["project_id"] for r in t.records] == ["P1", "P2"]


def test_hidden_sheets_are_never_read(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "旧数据"
    ws.append(HEADER)
    ws.sheet_state = "hidden"
    wb.create_sheet("说明").append(["见另表"])
    wb.save(tmp_path / "e_2020-07-01.xlsx")
    with pytest.raises(InputFileError, match="'旧数据' hold such a table but are hidden"):
        read_table(tmp_path / "e_2020-07-01.xlsx", "export")


def test_the_alias_table_has_no_header_listed_twice():
    for kind in ("targets", "plan", "export"):
        spec = table_spec(kind)
        headers = [h for f in spec.fields for h in f.headers]
        assert len(headers) == len(set(headers)), kind
        assert set(spec.identity) <= {f.key for f in spec.fields}
