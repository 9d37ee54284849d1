from datetime import date, datetime

import pytest
from hypothesis import given, settings, strategies as st

from supervision import normalize as nz


@pytest.mark.parametrize("cell", [
    "2020-07-15", "2020/7/15", "2020.7.15", "2020年7月15日", "２０２０－０７－１５", "2020-07-15 10:30:00",
    44027, 44027.0, "44027", "20200715", date(2020, 7, 15), datetime(2020, 7, 15, 9, 0),
])
def test_every_date_spelling_of_real_exports(cell):
    assert nz.parse_date(cell) == (date(2020, 7, 15), True)


@pytest.mark.parametrize("cell", ["2020-06-31", "六月", "2020-13-01", "abc", 12.5, "2020/7"])
def test_unreadable_dates_are_flagged_not_guessed(cell):
    assert nz.parse_date(cell) == (None, False)


@pytest.mark.parametrize("cell", [None, "", "   ", float("nan")])
def test_blank_is_empty_and_fine(cell):
    assert nz.parse_date(cell) == (None, True)
    assert nz.money_yuan(cell) == (None, True)


def test_datetime_keeps_the_time():
    assert nz.parse_datetime("2020-07-15 10:30:05") == (datetime(2020, 7, 15, 10, 30, 5), True)
    assert nz.parse_datetime("2020/7/15") == (datetime(2020, 7, 15), True)
    assert nz.parse_datetime("2020年7月15日 10时30分") == (datetime(2020, 7, 15, 10, 30), True)
    assert nz.parse_datetime("2020-07-15T10:30:00+08:00") == (datetime(2020, 7, 15, 10, 30), True)
    assert nz.parse_datetime("2020-07-15 10:30 待定") == (None, False)


@pytest.mark.parametrize("cell, yuan", [
    ("12.34", 123400), (12.34, 123400), ("１２.３４", 123400), ("1,234.5678万元", 12345678),
    (0, 0), ("-3", -30000), ("0.00005", 1),  # half-up to the 元
])
def test_money_in_wan_to_integer_yuan(cell, yuan):
    assert nz.money_yuan(cell) == (yuan, True)


@pytest.mark.parametrize("cell", ["abc", "12..3", "十万"])
def test_unreadable_money(cell):
    assert nz.money_yuan(cell) == (None, False)


def test_integers_reject_fractions_and_accept_fullwidth():
    assert nz.integer("１２０") == (120, True)
    assert nz.households("120户") == (120, True)
    assert nz.buildings("4幢") == (4, True)
    assert nz.elevators("2部") == (2, True)
    assert nz.integer("120户") == (None, False)  # a unit is accepted only where it belongs
    assert nz.integer(12.5) == (None, False)
    assert nz.integer("120.0") == (120, True)


@pytest.mark.parametrize("cell", ["120000元", "12.3亿", "12.3万", "约100", "1e5", "#N/A", True])
def test_money_in_another_unit_or_approximate_is_unreadable_not_rescaled(cell):
    assert nz.money_yuan(cell) == (None, False)


@pytest.mark.parametrize("cell, value", [("1.25", 1.25), ("1.25万平方米", 1.25), ("1.25万㎡", 1.25)])
def test_area_in_ten_thousand_square_metres(cell, value):
    assert nz.area(cell) == (value, True)


@pytest.mark.parametrize("cell", ["12500㎡", "12500平方米"])
def test_area_in_square_metres_is_unreadable(cell):
    assert nz.area(cell) == (None, False)


@pytest.mark.parametrize("cell", ["—", "——", "-", "/", "无", "暂无", "N/A", " － "])
def test_placeholders_mean_nothing(cell):
    assert nz.text(cell) is None
    assert nz.parse_date(cell) == (None, True)
    assert nz.money_yuan(cell) == (None, True)


def test_text_forced_by_excel_and_invisible_characters():
    assert nz.text('="00123"') == "00123"
    assert nz.text("'00123") == "00123"
    assert nz.text("粮食局\u200b宿舍\ufeff") == "粮食局宿舍"
    assert nz.key("粮食局\u00a0宿舍") == "粮食局宿舍"
    assert nz.money_yuan("\u22123") == (-30000, True)  # a typographic minus


def test_matching_key_removes_width_and_space():
    assert nz.key(" 芙蓉区　粮食局 宿舍 ") == "芙蓉区粮食局宿舍"
    assert nz.key("（一期）") == "(一期)"
    assert nz.text("  a   b ") == "a b"


@pytest.mark.parametrize("cell, expected", [
    ("张三 13812345678", ("张三", "13812345678")),
    ("张三13812345678", ("张三", "13812345678")),
    ("李四（0731-88950212）", ("李四", "0731-88950212")),
    ("王五", ("王五", None)),
    (None, (None, None)),
])
def test_person_and_phone_in_one_cell(cell, expected):
    assert nz.split_person_phone(cell) == expected


@pytest.mark.parametrize("cell, expected", [
    ("138 1234 5678", "13812345678"), ("+86 13812345678", "13812345678"),
    ("(0731)88950212", "0731-88950212"), ("0731-88950212转8001", "0731-88950212-8001"),
    ("13812345678（办）", "13812345678"), ("１３８１２３４５６７８", "13812345678"),
    ("1381234567", "1381234567"), ("13812345678/13912345678", "13812345678/13912345678"),
])
def test_phone_cells_are_normalised_without_guessing(cell, expected):
    assert nz.phone(cell) == expected


@pytest.mark.parametrize("phone, ok", [
    ("13812345678", True), ("0731-88950212", True), ("073188950212", True),
    ("0731-88950212-8001", True),
    ("1381234567", False), ("12812345678", False), ("88950212", False), (None, False),
])
def test_phone_validity(phone, ok):
    assert nz.is_valid_phone(phone) is ok


@pytest.mark.parametrize("cell, year", [("1995", 1995), ("1995年", 1995), (1995.0, 1995),
                                        ("1995-06", 1995), (date(1995, 6, 1), 1995)])
def test_built_year(cell, year):
    assert nz.year_of(cell) == (year, True)


_ALPHABET = list("ab长沙 \u3000=\"'-—/NA无\u200b\t（）１0") + ["N/A", "无"]


@given(st.lists(st.sampled_from(_ALPHABET), max_size=8).map("".join))
@settings(max_examples=3000)
def test_the_fast_path_for_clean_text_equals_the_general_path(s):
    """text() skips the normalisation of cells that are already clean (the common case, for
    speed at national scale); it must give exactly what the general path gives."""
    assert nz.text(s) == nz._text_general(s)
