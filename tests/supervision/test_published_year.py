"""A published-style year set up as docs/runbook.md §5 says, with `make new-year` and nothing
else: 2021, ranked by 开工率 alone (weights 1/0/0), its 附件1 in the published layout (header
计划完成数, a 全省 row, 湘西州 spelt short), its 附件2 in the filed layout, one export. The
month's bulletin must give the figures built into the data, the top and bottom three in the
published order, and the province's wording:

    张家界市、怀化市、郴州市开工率均达100%，居全省前三位
    湘西州、衡阳市、邵阳市开工率分别为30.00%、40.00%、50.00%，居全省后三位

The data (10 communities per city, 140 in all) are built here so every figure is known: the
cities' 开工率 are set per city, and the three cities at 100 % are told apart by 投资完成率
(张家界市 > 怀化市 > 郴州市, not their administrative order), as SPEC §3's listing order says.
"""
from __future__ import annotations

import dataclasses

import re
import shutil
from pathlib import Path

import pytest
import yaml

from supervision import config, new_year, paths, pipeline
from tests.fixtures.corpus import Sheet, write_xlsx
from tests.fixtures.runs import month_settings, warehouse_env
from tests.supervision.test_documents import pdf_text, tables_of

YEAR = 2021
MONTH = "2021-06"
PER_CITY = 10
#: started communities per city (of 10) and 累计完成投资 per community (万元, of 100 planned)
STARTED = {"长沙市": 9, "株洲市": 8, "湘潭市": 7, "衡阳市": 4, "邵阳市": 5, "岳阳市": 6, "常德市": 7,
           "张家界市": 10, "益阳市": 8, "郴州市": 10, "永州市": 6, "怀化市": 10, "娄底市": 9,
           "湘西自治州": 3}
DONE = {"张家界市": 60, "怀化市": 50, "郴州市": 40}
SHORT = {"湘西自治州": "湘西州"}


def _decide(text: str) -> str:
    """What the person does with the DECIDE marks for this year (the runbook's step 1): rank by
    开工率 alone, set the notice's 文号, then delete the DECIDE lines."""
    text = re.sub(r"weights:\n(  .*\n)+", "weights:\n  start_rate: 1\n  investment_rate: 0\n"
                  "  timely_rate: 0\n", text)
    text = text.replace("（湘建城〔2021〕44号）", "（湘建城〔2021〕12号）")
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.lstrip().startswith("# DECIDE:"))


def _landing(root: Path) -> Path:
    cities = [c.name for c in config.load_province("hunan").cities]
    # 附件1 as published: title lines, 序号/市州/计划完成数, the 全省 row first, 湘西州
    write_xlsx(root / "targets" / f"{YEAR}.xlsx", Sheet(
        [["附件1"], [f"{YEAR}年全省城镇老旧小区改造目标任务表"], ["序号", "市州", "计划完成数"],
         ["", "全省", PER_CITY * len(cities)],
         *[[i, SHORT.get(c, c), PER_CITY] for i, c in enumerate(cities, start=1)]],
        "附件1", merges=["A2:C2"]))
    plan_header = ["序号", "市州", "所在县市区", "所在街道及社区", "小区地址", "小区名称", "涉及户数(户)",
                   "小区内楼栋数(栋)", "总建筑面积(万平方米)", "建成时间", "房屋性质", "计划改造内容",
                   "项目实施单位责任人及联系电话", "项目监管单位责任人及联系电话"]
    export_header = ["项目编号", "市州", "所在县市区", "小区名称", "涉及户数(户)", "改造状态", "开工日期",
                     "完工日期", "计划总投资(万元)", "累计完成投资(万元)", "基础类改造内容", "加装电梯(部)",
                     "实施责任人", "实施责任人电话", "监管责任人", "监管责任人电话", "填报时间", "审核状态"]
    plan, export, seq = [], [], 0
    for c in cities:
        for k in range(PER_CITY):
            seq += 1
            county, name = f"{c[:2]}区", f"{c[:2]}第{k + 1}小区"
            plan.append([seq, c, county, "人民街道", f"人民路{k + 1}号", name, 100, 4, 0.8, "1995年",
                         "房改房", "供水管网改造", "王伟 13812345678", "李娜 0731-88950212"])
            started = k < STARTED[c]
            export.append([f"HN{YEAR}{seq:05d}", c, county, name, 100,
                           "已开工" if started else "未开工", f"{YEAR}-05-{10 + k:02d}" if started else None,
                           None, 100, DONE.get(c, 20) if started else 0, "供水管网改造", 0,
                           "王伟", "13812345678", "李娜", "0731-88950212",
                           f"{YEAR}-06-20 10:00:00", "已审核"])
    write_xlsx(root / "plan" / f"{YEAR}.xlsx", Sheet(
        [["附件2"], [f"纳入{YEAR}年全省为民办实事城镇老旧小区改造计划项目汇总表"],
         ["(住建部门盖章)", None, None, None, "(发改部门盖章)", None, None, None, "(财政部门盖章)"],
         ["制表联系人及电话:  万勇 0731-88950212"], plan_header, *plan, [],
         [f"注：1、小区名称、户数等应与各地申报{YEAR}年计划数时上报的内容保持一致；"]], "附件2"))
    write_xlsx(root / "exports" / f"湖南省老旧小区改造项目导出_{YEAR}-07-01.xlsx", Sheet(
        [["湖南智慧住建平台-城镇老旧小区改造管理系统 项目信息导出"], export_header, *export]))
    return root


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    root = tmp_path_factory.mktemp("published_year")
    include = root / "include"
    shutil.copytree(paths.include_dir(), include)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPERVISION_INCLUDE_DIR", str(include))
        config.load_programme.cache_clear()
        config.load_province.cache_clear()
        # step 1 of the runbook: make new-year YEAR=2021, then the decisions it lists
        assert new_year.main(["--year", str(YEAR)]) == 0
        target = include / "config" / "programmes" / f"{YEAR}.yaml"
        target.write_text(_decide(target.read_text("utf-8")), "utf-8")
        config.load_programme.cache_clear()
        programme = config.load_programme(YEAR)
        # steps 2-5: the landing area, then the first run (no Airflow: the stages)
        landing = _landing(root / "landing")
        out = root / "out"
        with warehouse_env(f"sqlite:///{root / 'warehouse.db'}"):
            # the stages up to the documents: this year's landing area has no recipients.csv
            s = dataclasses.replace(month_settings(landing, out, MONTH), send=False)
            runs = []
            for _ in range(2):                 # the month, then a rerun of it
                pipeline.ingest(s)
                pipeline.check_quality(s)
                pipeline.compute_figures(s)
                summary = pipeline.render_documents(s)
                runs.append({p.relative_to(out / MONTH): p.read_bytes()
                             for p in sorted((out / MONTH).rglob("*"))
                             if p.suffix in (".html", ".pdf")})
            first, again = runs
        yield programme, out / MONTH, summary, first, again
    config.load_programme.cache_clear()
    config.load_province.cache_clear()


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_the_year_comes_from_make_new_year(year, capsys):
    programme, *_ = year
    assert programme.weights == {"start_rate": 1.0, "investment_rate": 0.0, "timely_rate": 0.0}
    assert str(programme.first_month) == "2021-05" and str(programme.last_month) == "2022-01"
    assert programme.start_deadline.isoformat() == "2021-10-31"
    assert programme.documents["mid_year_bulletin"]["month"] == "2021-06"


def test_the_bulletin_names_the_top_and_bottom_three_as_published(year):
    _, folder, summary, *_ = year
    text = _text((folder / "monthly_bulletin.html").read_text("utf-8"))
    assert "湘建城〔2021〕12号" in text
    assert "按开工率对各市州进行排名" in text
    assert "张家界市、怀化市、郴州市开工率均达100%，居全省前三位。" in text
    assert "湘西州、衡阳市、邵阳市开工率分别为30.00%、40.00%、50.00%，居全省后三位，" in text
    assert "综合得分" not in text and "湘西自治州" not in text
    assert "mid_year_bulletin" in summary["documents"]


def test_the_ranking_table_carries_the_built_figures(year):
    _, folder, *_ = year
    table = tables_of((folder / "monthly_bulletin.html").read_text("utf-8"))["data ranking"]
    header, rows = table[0], table[1:]
    assert "综合得分" not in header and header[-2:] == ["排名", "排名较上月"]
    by_city = {r[1]: r for r in rows}
    assert "湘西州" in by_city and "湘西自治州" not in by_city
    for city, started in STARTED.items():
        r = by_city[SHORT.get(city, city)]
        assert r[2:5] == [str(PER_CITY), str(started), f"{started * 10:.2f}%"], city
        done = started * DONE.get(city, 20)
        assert r[5:8] == ["1000.00", f"{done:.2f}", f"{done / 10:.2f}%"], city
    assert by_city["全省"][2:4] == ["140", str(sum(STARTED.values()))]
    ranks = {c: int(by_city[SHORT.get(c, c)][9]) for c in STARTED}
    assert ranks["张家界市"] == ranks["怀化市"] == ranks["郴州市"] == 1
    assert ranks["湘西自治州"] == 14 and ranks["衡阳市"] == 13 and ranks["邵阳市"] == 12


def test_the_targets_province_row_is_cross_checked_not_counted(year):
    programme, folder, *_ = year
    from supervision import ingest  # noqa: PLC0415

    targets = ingest.load_targets(folder.parents[1] / "landing" / "targets" / f"{YEAR}.xlsx",
                                  programme.province)
    assert len(targets.frame) == 14 and int(targets.frame.target_count.sum()) == 140
    assert "湘西自治州" in set(targets.frame.city)
    checks = ingest.summary_checks(targets.table)
    assert [(c["row"], c["stated"], c["computed"], c["ok"]) for c in checks] == [
        (4, "140", "140", True)]
    table = tables_of((folder / "monthly_bulletin.html").read_text("utf-8"))["data ranking"]
    assert len(table) == 1 + 14 + 1          # header, 14 cities, 全省 (once)


def test_the_pdf_says_the_same(year):
    _, folder, *_ = year
    flat = re.sub(r"\s+", "", pdf_text(folder / "monthly_bulletin.pdf"))
    assert "张家界市、怀化市、郴州市开工率均达100%，居全省前三位。" in flat
    assert "湘西州、衡阳市、邵阳市开工率分别为30.00%、40.00%、50.00%" in flat


def test_the_notices_use_the_basis_and_short_names(year):
    _, folder, *_ = year
    notice = _text((folder / "notices" / "xiangxi.html").read_text("utf-8"))
    assert "关于督促加快湘西州" in notice
    assert "开工率在全省排第14名" in notice and "综合得分" not in notice
    assert "湘西自治州住房和城乡建设局" in notice    # the organ keeps the configured name
    assert "关于“对信息报送不及时及进度靠后的地区进行督办”的要求" in notice


def test_a_rerun_writes_the_same_bytes(year):
    *_, first, again = year
    assert first and first == again
