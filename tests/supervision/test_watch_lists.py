"""The N10 basic-category list and the N11 elevator list, on SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from supervision import warehouse as wh
from supervision import watch_lists
from supervision.config import FigureRules, load_programme
from supervision.months import Month

from tests.supervision.figure_warehouse import Builder, figure_db, june_2020, wan  # noqa: F401

JUNE = Month(2020, 6)


def test_basic_category_list(figure_db):
    june_2020().load(figure_db)
    with figure_db.begin() as conn:
        rows = watch_lists.compute_basic_category_list(conn, load_programme(2020), JUNE)
    got = [(r["seq"], r["city"], r["name"], r["reason"], r["basic_count"], r["improve_count"],
            r["central_provincial_yuan"], r["is_valid"]) for r in wh.records(rows)]
    # 五一花园: 2 basic items of 4 is exactly the half: not listed
    assert got == [
        (1, "长沙市", "建设新村", "BASIC_CONTENT_MISSING", 0, 0, wan(10), True),
        (2, "长沙市", "人民路宿舍", "SUBSIDY_NOT_MAINLY_BASIC", 1, 2, wan(5), True),
        (3, "岳阳市", "印刷厂宿舍", "BASIC_CONTENT_MISSING", 0, 0, 0, False),
    ]


def test_items_are_counted_between_separators_and_the_share_is_configuration(figure_db):
    b = Builder().city("长沙市", 2, 1)
    a, c = b.community("长沙市", "芙蓉区", "甲小区"), b.community("长沙市", "芙蓉区", "乙小区")
    b.record("2020-06", a, basic="供水,排水;供电、燃气", improve="绿化、照明、停车、充电、电梯",
             provincial="0.01")
    b.record("2020-06", c, basic="供水", improve="绿化", upgrade="养老", central="1")
    b.load(figure_db)
    strict = replace(load_programme(2020),
                     figure_rules=FigureRules(basic_min_item_share=Fraction(1, 2)))
    lenient = replace(strict, figure_rules=FigureRules(basic_min_item_share=Fraction(2, 5)))
    with figure_db.begin() as conn:
        listed = wh.records(watch_lists.compute_basic_category_list(conn, strict, JUNE))
        fewer = wh.records(watch_lists.compute_basic_category_list(conn, lenient, JUNE))
    # 甲: 4 basic of 9 < 1/2 (and 100 元 of provincial money); 乙: 1 of 3 < 1/2
    assert [(r["name"], r["basic_count"], r["improve_count"], r["upgrade_count"]) for r in listed] \
        == [("乙小区", 1, 1, 1), ("甲小区", 4, 5, 0)]
    assert [r["name"] for r in fewer] == ["乙小区"]           # 4/9 is not below 2/5, 1/3 is


def test_elevator_list(figure_db):
    june_2020().load(figure_db)
    with figure_db.begin() as conn:
        rows = watch_lists.compute_elevator_list(conn, load_programme(2020), JUNE)
    got = [(r["city"], r["name"], r["elevators"], r["status"], r["start_date"], r["is_valid"])
           for r in wh.records(rows)]
    # 东风小区 is finished and 电机厂小区 not started: neither is under way
    assert got == [("长沙市", "建设新村", 2, "已开工", "2020-06-01", True),
                   ("岳阳市", "印刷厂宿舍", 1, "已开工", "2020-06-10", False)]
