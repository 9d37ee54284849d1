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
