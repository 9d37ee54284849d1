"""The month's tables (SPEC §7): ranking.csv / overdue.csv and the other lists as csv (fractions,
exact 万元) and xlsx (percentages, formatting), from the hand-computed warehouse."""
from __future__ import annotations

import csv

import openpyxl
import pytest

from supervision import figures, tables
from supervision import warehouse as wh
from supervision.config import load_programme
from supervision.months import Month
from supervision.pipeline import compute_month_figures

from tests.supervision.figure_warehouse import june_2020

MAY, JUNE = Month(2020, 5), Month(2020, 6)
SPEC_RANKING = ["市州", "任务数", "累计开工数", "开工率", "按户数计开工率", "累计完工数", "完工率",
                "计划投资额", "累计完成投资额", "投资完成率", "报送及时率", "综合得分", "排名"]


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    engine = wh.connect(f"sqlite:///{folder / 'warehouse.db'}")
    june_2020().load(engine)
    p = load_programme(2020)
    with engine.begin() as conn:
        figures.compute_city_figures(conn, p, MAY)
        data = compute_month_figures(conn, p, JUNE)
    engine.dispose()
    out = folder / "out"
    tables.write_ranking_csv(out / "ranking.csv", data["figures"])
    tables.write_ranking_xlsx(out / "ranking.xlsx", data["figures"], "标题", "数据截至2020年6月30日",
                              p.weights)
    tables.write_overdue_csv(out / "overdue.csv", data["overdue"])
    tables.write_overdue_xlsx(out / "overdue.xlsx", data["overdue"], "逾期清单")
    tables.write_early_warning(out, data["warnings"], "预警")
    tables.write_spot_checks(out, data["sample"], "抽查")
    tables.write_basic_category(out, data["basic"], "基础类")
    tables.write_elevators(out, data["elevators"], "电梯")
    return out, data


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_ranking_csv_has_the_columns_of_spec_7_in_administrative_order(month):
    out, _ = month
    with open(out / "ranking.csv", encoding="utf-8-sig") as f:
        header = next(csv.reader(f))
    assert header[:len(SPEC_RANKING)] == SPEC_RANKING
    rows = read_csv(out / "ranking.csv")
    assert [r["市州"] for r in rows] == ["长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "全省"]


def test_ranking_csv_values(month):
    out, _ = month
    rows = {r["市州"]: r for r in read_csv(out / "ranking.csv")}
    cs = rows["长沙市"]
    assert (cs["任务数"], cs["累计开工数"], cs["开工率"], cs["按户数计开工率"]) == ("4", "2", "0.5", "0.3")
    # money in 万元, exact to the 元; rates as unrounded fractions
    assert (cs["计划投资额"], cs["累计完成投资额"]) == ("700.0000", "150.5500")
    assert cs["投资完成率"] == repr(3011 / 14000)
    assert (cs["综合得分"], cs["排名"], cs["排名较上月"]) == ("41.45", "3", "-2")
    assert cs["投资完成率较上月(百分点)"] == "7.15"
    assert rows["衡阳市"]["开工率"] == "" and rows["衡阳市"]["完工率"] == ""   # 任务数 0
    assert rows["湘潭市"]["投资完成率"] == "1.5"                            # above 100%
    assert (rows["株洲市"]["进度滞后"], rows["株洲市"]["投资完成率滞后"], rows["株洲市"]["开工率滞后"]) \
        == ("是", "是", "")
    total = rows["全省"]
    assert (total["综合得分"], total["排名"], total["排名表位次"]) == ("37.31", "", "")
    assert (total["计划投资额"], total["累计完成投资额"]) == ("870.0000", "205.5500")


def _sheet_rows(ws, header_row):
    headers = [c.value for c in ws[header_row]]
    return headers, {ws.cell(r, 2).value: {h: ws.cell(r, i + 1) for i, h in enumerate(headers)}
                     for r in range(header_row + 1, ws.max_row + 1)}


def test_ranking_xlsx_shows_percentages_as_an_official_expects(month):
    out, _ = month
    wb = openpyxl.load_workbook(out / "ranking.xlsx")
    assert wb.sheetnames == ["综合排名", "全部指标"]
    ws = wb["综合排名"]
    assert ws["A1"].value == "标题" and ws["A2"].value == "数据截至2020年6月30日"
    headers, rows = _sheet_rows(ws, 3)
    assert headers[:4] == ["序号", "市州", "任务数（个）", "累计开工数（个）"]
    cs = rows["长沙市"]
    assert (cs["序号"].value, cs["开工率"].value, cs["开工率"].number_format) == (1, 0.5, "0.00%")
    assert (cs["计划投资额（万元）"].value, cs["计划投资额（万元）"].number_format) == (700.0, "#,##0.00")
    assert cs["累计完成投资额（万元）"].value == 150.55
    assert (cs["综合得分"].value, cs["综合得分"].number_format) == (41.45, "0.00")
    assert rows["衡阳市"]["开工率"].value == "—"                      # empty rate
    assert rows["湘潭市"]["投资完成率"].value == 1.5                   # 150.00%, not capped
    total = rows["全省"]
    assert total["序号"].value is None and total["排名"].value is None and total["市州"].font.bold
    notes = [ws.cell(r, 1).value for r in range(1, ws.max_row + 1)
             if str(ws.cell(r, 1).value or "").startswith(("注", "2.", "3.", "4."))]
    assert "综合得分=100×(0.5×开工率+0.3×投资完成率+0.2×报送及时率)" in notes[0]
    assert "33.33%" in notes[-1] and "12.50%" in notes[-1]             # June's expected path
    full_headers, _ = _sheet_rows(wb["全部指标"], 3)
    assert full_headers[1:] == [c.header for c in tables.RANKING_COLUMNS]


def test_overdue_csv_and_xlsx(month):
    out, data = month
    rows = read_csv(out / "overdue.csv")
    assert list(rows[0])[:5] == ["市州", "所在县市区", "小区名称", "项目编号", "原因"]
    assert len(rows) == len(data["overdue"]) == 10
    missing = [r for r in rows if r["原因"] == "MISSING_FROM_EXPORT"]
    assert len(missing) == 3 and all(r["项目编号"] == "" for r in missing)
    assert {r["原因说明"] for r in missing} == {"系统中无该小区记录"}
    ws = openpyxl.load_workbook(out / "overdue.xlsx").active
    assert ws["A2"].value == "序号" and ws.max_row == 2 + 10 + 1        # title, header, rows, note


def test_the_other_lists(month):
    out, _ = month
    warn = {r["市州"]: r for r in read_csv(out / "early_warning.csv")}
    assert warn["湘潭市"]["预警"] == "是" and warn["长沙市"]["预警"] == ""
    assert warn["长沙市"]["预计截止时开工率"] == "1.5"
    sample = read_csv(out / "spot_checks.csv")
    # keyed by the snapshot's SHA-256 too (tests/supervision/test_spot_check.py)
    assert [r["项目编号"] for r in sample][:2] == ["HN202000004", "HN202000003"]
    assert sample[1]["抽样键(SHA-256)"].startswith("8277f8")
    ws = openpyxl.load_workbook(out / "spot_checks.xlsx").active
    assert [c.value for c in ws[2]][-5:] == [h for h, _ in tables.SPOT_CHECK_FILL_IN]
    basic = read_csv(out / "basic_category.csv")
    assert [(r["小区名称"], r["原因"], r["数据校验"]) for r in basic] == [
        ("建设新村", "BASIC_CONTENT_MISSING", "通过"),
        ("人民路宿舍", "SUBSIDY_NOT_MAINLY_BASIC", "通过"),
        ("印刷厂宿舍", "BASIC_CONTENT_MISSING", "未通过")]
    assert basic[0]["中央和省级资金(万元)"] == "10.0000"
    lifts = read_csv(out / "elevators.csv")
    assert [(r["小区名称"], r["加装电梯(部)"]) for r in lifts] == [("建设新村", "2"), ("印刷厂宿舍", "1")]


def test_writing_again_gives_identical_bytes(month, tmp_path):
    out, data = month
    tables.write_ranking_xlsx(tmp_path / "ranking.xlsx", data["figures"], "标题",
                              "数据截至2020年6月30日", load_programme(2020).weights)
    tables.write_ranking_csv(tmp_path / "ranking.csv", data["figures"])
    tables.write_spot_checks(tmp_path, data["sample"], "抽查")
    for name in ("ranking.xlsx", "ranking.csv", "spot_checks.xlsx", "spot_checks.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_money_is_exact_in_wan():
    assert tables.money_wan(1) == "0.0001"
    assert tables.money_wan(12345678901234) == "1234567890.1234"
    assert tables.money_wan(None) == ""


def test_a_workbook_is_the_same_bytes_in_any_time_zone_umask_and_moment(month, tmp_path):
    """The xlsx twins are not rewritten after XlsxWriter (issue 17): its own file must already
    be reproducible — parts dated 1980-01-31, mode 0600, no time of saving."""
    import os
    import time
    import zipfile

    _out, data = month
    written = []
    saved_tz, saved_umask = os.environ.get("TZ"), os.umask(0o022)
    try:
        for zone, mask in (("UTC", 0o022), ("Asia/Shanghai", 0o077), ("America/Los_Angeles", 0o002)):
            os.environ["TZ"] = zone
            time.tzset()
            os.umask(mask)
            path = tmp_path / f"{len(written)}.xlsx"
            tables.write_ranking_xlsx(path, data["figures"], "标题", "数据截至2020年6月30日",
                                      load_programme(2020).weights)
            written.append(path.read_bytes())
            time.sleep(1.1)   # a zip's times have a 2-second grain: cross one
    finally:
        os.umask(saved_umask)
        if saved_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved_tz
        time.tzset()
    assert written[0] == written[1] == written[2]
    with zipfile.ZipFile(tmp_path / "0.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 31, 0, 0, 0)}
        assert {i.external_attr >> 16 & 0o777 for i in z.infolist()} == {0o600}
        assert b"2000-01-01T00:00:00Z" in z.read("docProps/core.xml")
