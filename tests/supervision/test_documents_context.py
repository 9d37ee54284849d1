"""The documents' contexts and templates on small made-up months: escaping, numbering, the
early warnings, the 年底 bulletin's goals, the masthead and the exact formatting of figures."""
from __future__ import annotations

import re
import subprocess
from datetime import date
from fractions import Fraction

import pandas as pd
import pytest

from supervision import documents
from supervision.config import load_programme
from supervision.figures import PROVINCE_ROW
from supervision.months import Month

PROGRAMME = load_programme(2020)
CITIES = [c.name for c in PROGRAMME.province.cities]
SNAPSHOT = {"name": "export_2020-07-01.xlsx", "date": date(2020, 7, 1)}


def make_figures(rows: dict[str, dict], month: str = "2020-06") -> pd.DataFrame:
    """A ``city_figures`` frame: every city with 10 communities, 1,000,000 元 planned each,
    nothing started, overridden by ``rows``; ranks and 全省 derived like the figures step."""
    out = []
    for i, city in enumerate(CITIES, start=1):
        r = {"report_month": month, "city": city, "city_order": i, "target_count": 10,
             "plan_count": 10, "plan_households": 1000, "started_count": 0,
             "started_households": 0, "finished_count": 0, "planned_invest_yuan": 10_000_000,
             "done_invest_yuan": 0, "timely_count": 10, "start_rate_change": None,
             "investment_rate_change": None, "timely_rate_change": None, "rank_change": None,
             "lagging": False}
        r.update(rows.get(city, {}))
        out.append(r)
    frame = pd.DataFrame(out)
    total = frame.drop(columns=["report_month", "city", "lagging"]).sum(numeric_only=True)
    province = {**total.to_dict(), "report_month": month, "city": PROVINCE_ROW,
                "city_order": len(CITIES) + 1, "lagging": False, "start_rate_change": None,
                "investment_rate_change": None, "timely_rate_change": None, "rank_change": None}
    frame = pd.concat([frame, pd.DataFrame([province])], ignore_index=True)
    frame["start_rate"] = frame.started_count / frame.target_count
    frame["investment_rate"] = frame.done_invest_yuan / frame.planned_invest_yuan
    frame["timely_rate"] = frame.timely_count / frame.plan_count
    from supervision.figures import score_cents, competition_rank

    frame["score_cents"] = [
        score_cents(Fraction(int(s), int(t)), Fraction(int(d), int(p)), Fraction(int(tc), int(pc)),
                    PROGRAMME.weights)
        for s, t, d, p, tc, pc in zip(frame.started_count, frame.target_count,
                                      frame.done_invest_yuan, frame.planned_invest_yuan,
                                      frame.timely_count, frame.plan_count)]
    cities = frame.city != PROVINCE_ROW
    ranks = competition_rank(list(frame.score_cents[cities]))
    frame["score_rank"] = None
    frame.loc[cities, "score_rank"] = ranks
    from supervision.figures import exact_rates, listing_order

    rows = [{"score_cents": r.score_cents, "city_order": r.city_order,
             "rates": exact_rates(r._asdict())} for r in frame[cities].itertuples()]
    frame["list_order"] = None
    frame.loc[cities, "list_order"] = listing_order(rows)
    # "lagging" given by a test stands for lagging on 开工率 (the figures stage's flags)
    frame["start_lagging"] = frame["lagging"]
    frame["investment_lagging"] = False
    return frame


ITEM_COLUMNS = ["seq", "city", "county", "name", "project_id", "reason", "detail", "plan_key",
                "impl_officer", "impl_phone", "sup_officer", "sup_phone"]


def make_items(city: str, names: list[str], reason: str = "NOT_REPORTED") -> pd.DataFrame:
    return pd.DataFrame(columns=ITEM_COLUMNS, data=[{
        "seq": i, "city": city, "county": "北塔区", "name": name, "project_id": f"HN20200{i:04d}",
        "reason": reason, "detail": "2020-05-09", "plan_key": f"k{i}",
        "impl_officer": "张三", "impl_phone": "13800000000", "sup_officer": "李四",
        "sup_phone": "0739-1234567"} for i, name in enumerate(names, start=1)])


def test_a_community_called_script_stays_text():
    name = '<script>alert("x")</script>小区'
    figures = make_figures({"邵阳市": {"lagging": True}})
    row = figures[figures.city == "邵阳市"].iloc[0]
    html = documents.supervision_notice(PROGRAMME, Month(2020, 6), row,
                                        make_items("邵阳市", [name, "B&B<b>院"]), SNAPSHOT,
                                        date(2020, 7, 2))
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;小区" in html
    assert "B&amp;B&lt;b&gt;院" in html


def test_a_script_name_prints_as_text_in_the_pdf(tmp_path):
    figures = make_figures({"邵阳市": {"lagging": True}})
    row = figures[figures.city == "邵阳市"].iloc[0]
    html = documents.supervision_notice(PROGRAMME, Month(2020, 6), row,
                                        make_items("邵阳市", ["<script>x()</script>"]), SNAPSHOT,
                                        date(2020, 7, 2))
    pdf = documents.html_to_pdf(html, tmp_path / "n.pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "<script>x()</script>" in re.sub(r"\s+", "", text)   # wrapped in its cell


def test_document_numbers_follow_the_configured_rule():
    rule = documents.NumberRule.of({"prefix": "湘建城", "first": 60, "numbers": {"2020-09": 99}},
                                   "")
    assert rule.number(2020, Month(2020, 5), 0) == "湘建城〔2020〕60号"
    assert rule.number(2020, Month(2020, 6), 1) == "湘建城〔2020〕61号"
    assert rule.number(2020, Month(2020, 9), 4) == "湘建城〔2020〕99号"
    # one number per city and month, none shared
    per_city = documents.NumberRule.of({"prefix": "湘建城函", "first": 100}, "")
    numbers = {per_city.number(2020, Month(2020, 5).shift(m), m, 14, c)
               for m in range(9) for c in range(14)}
    assert len(numbers) == 9 * 14


def test_notice_numbers_differ_per_city_and_use_the_publication_year():
    figures = make_figures({"长沙市": {"lagging": True}, "株洲市": {"lagging": True}})
    numbers = []
    for city in ("长沙市", "株洲市"):
        ctx = documents.supervision_notice_context(
            PROGRAMME, Month(2020, 12), figures[figures.city == city].iloc[0],
            make_items(city, ["A"]), SNAPSHOT, date(2021, 1, 4))
        numbers.append(ctx["doc"].number)
    assert numbers == ["湘建城函〔2021〕198号", "湘建城函〔2021〕199号"]


def test_exact_formatting_rounds_half_up():
    assert documents.percent(Fraction(1, 8)) == "12.50%"
    assert documents.percent(Fraction(1, 1600)) == "0.06%"        # 0.0625 % → 0.06
    assert documents.percent(Fraction(1, 800)) == "0.13%"         # 0.125 % → 0.13
    assert documents.percent(None) == "—"
    assert documents.percent(0.434) == "43.40%"
    assert documents.wan(12345) == "1.23" and documents.wan(12350) == "1.24"
    assert documents.points(1.005) == "+1.01" and documents.points(-0.5) == "-0.50"
    assert documents.points(0.0) == "0.00" and documents.points(None) == "—"
    assert documents.rank_move(2) == "↑2" and documents.rank_move(-1) == "↓1"
    assert documents.rank_move(0) == "—" and documents.rank_move(None) == ""


def test_top_and_bottom_include_ties_at_the_boundary():
    # 长沙 and 株洲 tie for 3rd place
    started = {"湘潭市": 9, "衡阳市": 8, "长沙市": 7, "株洲市": 7}
    figures = make_figures({c: {"started_count": n} for c, n in started.items()})
    top, bottom = documents.top_and_bottom(figures)
    assert list(top.city) == ["湘潭市", "衡阳市", "长沙市", "株洲市"]
    assert len(bottom) == 10   # the other ten all share the last rank


def test_the_bulletin_paragraph_is_fed_from_the_warnings_given():
    figures = make_figures({"长沙市": {"started_count": 4}})
    given = [documents.EarlyWarning("娄底市", 0.5, None, True, False)]
    html = documents.monthly_bulletin(PROGRAMME, Month(2020, 6), figures, SNAPSHOT,
                                      date(2020, 7, 2), warnings=given)
    paragraph = re.search(r"预警提示</h2>\s*<p>(.*?)</p>", html, re.S).group(1)
    assert "娄底市（预计50.00%）开工率预计达不到100%" in paragraph
    assert "长沙市" not in paragraph


def test_completion_bulletins_are_for_june_and_december():
    kinds = {str(m): documents.completion_bulletin_kind(PROGRAMME, m)
             for m in (Month(2020, 5).shift(i) for i in range(9))}
    assert kinds == {"2020-05": None, "2020-06": "mid_year_bulletin", "2020-07": None,
                     "2020-08": None, "2020-09": None, "2020-10": None, "2020-11": None,
                     "2020-12": "year_end_bulletin", "2021-01": None}


def test_the_year_end_bulletin_checks_the_targets_of_n3():
    figures = make_figures({
        "长沙市": {"started_count": 10, "done_invest_yuan": 5_000_000},   # both met exactly
        "株洲市": {"started_count": 9, "done_invest_yuan": 9_000_000},    # start missed
        "湘潭市": {"started_count": 12, "done_invest_yuan": 4_999_999},   # investment missed
    }, month="2020-12")
    ctx = documents.completion_bulletin_context(PROGRAMME, Month(2020, 12), "year_end_bulletin",
                                                figures, SNAPSHOT, date(2021, 1, 4))
    assert ctx["start_goal_pct"] == "100.00%" and ctx["investment_goal_pct"] == "50.00%"
    lines = {x.line.city: x for x in ctx["rows"]}
    assert (lines["长沙市"].start_met, lines["长沙市"].investment_met) == (True, True)
    assert (lines["株洲市"].start_met, lines["株洲市"].investment_met) == (False, True)
    assert (lines["湘潭市"].start_met, lines["湘潭市"].investment_met) == (True, False)
    assert ctx["doc"].number == "湘建城〔2021〕130号"
    html = documents.completion_bulletin(PROGRAMME, Month(2020, 12), "year_end_bulletin",
                                         figures, SNAPSHOT, date(2021, 1, 4))
    assert "关于2020年全省城镇老旧小区<br>改造任务完成情况的通报" in html
    assert "株洲市（开工率90.00%，1个小区未开工）" in html
    assert "完成开工任务<br>（100.00%）" in html


def test_the_mastheads():
    joint = documents.masthead(PROGRAMME.documents["organs"])
    assert not joint.single and joint.names[0] == "湖南省住房和城乡建设厅"
    # every organ name is spread to the width of the longest one
    widths = [len(n) * joint.font_pt / documents.PT_PER_MM + (len(n) - 1) * s
              for n, s in zip(joint.names, joint.spacing_mm)]
    assert max(widths) - min(widths) < 1e-6
    assert joint.natural_mm * joint.scale_x <= documents.TEXT_WIDTH_MM
    single = documents.masthead(["湖南省住房和城乡建设厅"])
    assert single.single and single.natural_mm * single.scale_x <= documents.TEXT_WIDTH_MM
    html = documents.supervision_notice(
        PROGRAMME, Month(2020, 6), make_figures({}).iloc[0], make_items("长沙市", ["A"]),
        SNAPSHOT, date(2020, 7, 2))
    assert "湖南省住房和城乡建设厅文件</div>" in html
    assert "长沙市住房和城乡建设局、人居环境局、发展改革委员会、财政局：" in html
    assert "（联系人：万勇，联系电话：0731-88950212）" in html
    assert "请于2020年7月17日前完成整改" in html   # 15 days, a Friday


def test_a_notice_without_overdue_communities_has_no_attachment():
    figures = make_figures({"长沙市": {"lagging": True, "started_count": 1}})
    html = documents.supervision_notice(PROGRAMME, Month(2020, 6), figures.iloc[0],
                                        make_items("长沙市", []), SNAPSHOT, date(2020, 7, 2))
    body = html[html.index("<body>"):]
    assert "附件" not in body and "进度滞后。" in body
    assert 'class="colophon-anchor"' in html


def test_a_list_too_long_to_print_is_summarised_per_county_and_sent_as_xlsx():
    figures = make_figures({"邵阳市": {"lagging": True}})
    row = figures[figures.city == "邵阳市"].iloc[0]
    limit = PROGRAMME.documents["supervision_notice"]["list_max_communities"]
    long_list = make_items("邵阳市", [f"第{i}小区" for i in range(limit + 1)])
    long_list.loc[long_list.index[::2], "county"] = "大祥区"
    html = documents.supervision_notice(PROGRAMME, Month(2020, 6), row, long_list, SNAPSHOT,
                                        date(2020, 7, 2))
    assert f"共有{limit + 1}个小区存在{limit + 1}项问题" in html
    assert "shaoyang.xlsx" in html
    assert "第1小区" not in html and "13800000000" not in html   # no per-community rows
    summary = re.search(r'<table class="data county-summary">(.*?)</table>', html, re.S).group(1)
    counties = re.findall(r"<tr><td>\d+</td><td>(.*?)</td><td class=\"num\">(\d+)</td>", summary)
    assert counties == [("大祥区", str((limit + 2) // 2)), ("北塔区", str((limit + 1) // 2))]
    short = documents.supervision_notice(PROGRAMME, Month(2020, 6), row, long_list.iloc[:limit],
                                         SNAPSHOT, date(2020, 7, 2))
    assert "第1小区" in short and "county-summary" not in short
