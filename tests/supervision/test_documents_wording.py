"""The bulletin's wording follows the programme: the ranking basis (one rate named with its
values, or the composite with rank and score), the bottom three worst first, short city names,
a 预警 text that says what the early warning computes, and the quotations of the year's notice
from the programme file."""
from __future__ import annotations

import dataclasses
import re
from datetime import date

from supervision import documents
from supervision.months import Month

import pytest

from tests.supervision import test_documents_context as context
from tests.supervision.test_documents_context import PROGRAMME, SNAPSHOT

JUNE = Month(2020, 6)
SINGLE = dataclasses.replace(PROGRAMME, weights={"start_rate": 1.0, "investment_rate": 0.0,
                                                 "timely_rate": 0.0})


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def make_figures(rows, programme=None):
    """The figures of test_documents_context, scored and ranked with ``programme``'s weights."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(context, "PROGRAMME", programme or PROGRAMME)
        return context.make_figures(rows)


def _bulletin(programme, rows, warnings=None) -> str:
    return _text(documents.monthly_bulletin(programme, JUNE, make_figures(rows, programme),
                                            SNAPSHOT, date(2020, 7, 2), warnings=warnings))


STARTED = {"张家界市": 10, "怀化市": 10, "郴州市": 10, "长沙市": 9, "株洲市": 8, "湘潭市": 8,
           "岳阳市": 7, "常德市": 7, "益阳市": 6, "永州市": 6, "娄底市": 6, "邵阳市": 5, "衡阳市": 4,
           "湘西自治州": 3}
# the three at 100 % told apart by 投资完成率 (SPEC §3's listing order), not administrative order
DONE = {"张家界市": 6_000_000, "怀化市": 5_000_000, "郴州市": 4_000_000}


def _rows(started=STARTED):
    return {c: {"started_count": n, "started_households": 100 * n,
                "done_invest_yuan": DONE.get(c, 0)} for c, n in started.items()}


def test_a_single_rate_basis_names_the_rate_and_its_values():
    text = _bulletin(SINGLE, _rows())
    assert "按开工率对各市州进行排名，开工率相同的排名并列" in text
    assert "张家界市、怀化市、郴州市开工率均达100%，居全省前三位。" in text
    assert "湘西州、衡阳市、邵阳市开工率分别为30.00%、40.00%、50.00%，居全省后三位，请加大工作力度" in text
    assert "综合得分" not in text and "综合排名" not in text


def test_a_tie_at_the_boundary_is_counted_in_the_words():
    started = {**STARTED, "长沙市": 10, "株洲市": 10}
    text = _bulletin(SINGLE, _rows(started))
    assert re.search(r"（一）排名靠前的市州。(\S+?)开工率均达100%，居全省前五位。", text)


def test_different_values_are_listed_in_order():
    started = {**STARTED, "怀化市": 9, "郴州市": 9, "长沙市": 8}
    text = _bulletin(SINGLE, _rows(started))
    assert "张家界市、怀化市、郴州市开工率分别为100%、90.00%、90.00%，居全省前三位。" in text


def test_a_composite_basis_names_rank_and_score_bottom_worst_first():
    text = _bulletin(PROGRAMME, _rows())
    assert "按开工率（权重50%）、投资完成率（权重30%）、信息报送及时率（权重20%）计算综合得分" in text
    bottom = re.search(r"（二）排名靠后的市州。(.*?)综合排名靠后", text).group(1)
    assert re.findall(r"([^、（）]+?)（第(\d+)名", bottom) == [
        ("湘西州", "14"), ("衡阳市", "13"), ("邵阳市", "12")]
    assert "综合得分＝开工率×50%＋投资完成率×30%＋报送及时率×20%" in text


def test_a_composite_of_two_rates_lists_only_the_weighted_ones():
    two = dataclasses.replace(PROGRAMME, weights={"start_rate": 0.6, "investment_rate": 0.4,
                                                  "timely_rate": 0.0})
    text = _bulletin(two, _rows())
    assert "按开工率（权重60%）、投资完成率（权重40%）计算综合得分" in text
    assert "综合得分＝开工率×60%＋投资完成率×40%，" in text


def test_short_names_in_documents_full_names_in_organ_lines():
    text = _bulletin(SINGLE, _rows())
    assert "湘西州" in text and "湘西自治州" not in text
    rows = _rows()
    rows["湘西自治州"]["lagging"] = True
    figures = make_figures(rows, SINGLE)
    row = figures[figures.city == "湘西自治州"].iloc[0]
    items = figures.iloc[0:0].assign(plan_key=[], reason=[])
    notice = _text(documents.supervision_notice(SINGLE, JUNE, row, items, SNAPSHOT,
                                                date(2020, 7, 2)))
    assert "关于督促加快湘西州" in notice
    assert "湘西自治州住房和城乡建设局" in notice and "湘西自治州人民政府" in notice
    assert "开工率在全省排第14名" in notice and "综合得分" not in notice


def test_the_warning_text_says_what_is_computed():
    given = [documents.EarlyWarning("湘西自治州", 0.9, None, True, False)]
    text = _bulletin(SINGLE, _rows(), warnings=given)
    paragraph = re.search(r"预警提示(.*?)四、", text, re.S).group(1)
    # June 2020: the expected path starts in April, so the pace is over May and June
    assert "按各市州近两个月月均新开工小区数推算，至10月底，湘西州（预计90.00%）开工率预计达不到100%" in paragraph
    assert "较上月" not in paragraph and "投资完成率" not in paragraph
    calm = _bulletin(SINGLE, _rows(), warnings=[documents.EarlyWarning("长沙市", 1.2, None,
                                                                       False, False)])
    assert "至10月底各市州开工率均可达到100%" in calm


def test_quotations_come_from_the_programme():
    figures = make_figures(_rows())
    row = figures[figures.city == "长沙市"].iloc[0]
    items = figures.iloc[0:0].assign(plan_key=[], reason=[])
    quoted = _text(documents.supervision_notice(PROGRAMME, JUNE, row, items, SNAPSHOT,
                                                date(2020, 7, 2)))
    assert "关于“对信息报送不及时及进度靠后的地区进行督办”的要求" in quoted
    docs = {**PROGRAMME.documents, "supervision_notice": {
        k: v for k, v in PROGRAMME.documents["supervision_notice"].items() if k != "quotation"}}
    plain = _text(documents.supervision_notice(dataclasses.replace(PROGRAMME, documents=docs),
                                               JUNE, row, items, SNAPSHOT, date(2020, 7, 2)))
    assert "督办”" not in plain and "（湘建城〔2020〕44号）要求，我厅" in plain


def test_the_same_month_renders_the_same_bytes():
    assert _bulletin(SINGLE, _rows()) == _bulletin(SINGLE, _rows())


def test_numerals():
    assert [documents.numeral_zh(n) for n in (1, 2, 3, 10, 12, 14, 20, 21)] == [
        "一", "两", "三", "十", "十二", "十四", "二十", "二十一"]
