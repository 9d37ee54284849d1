from datetime import date

import pytest

from supervision.months import Month, date_zh, months_between


def test_parse_and_format():
    m = Month.parse("2020-06")
    assert (m.year, m.month, str(m)) == (2020, 6, "2020-06")
    assert m.first_day == date(2020, 6, 1) and m.last_day == date(2020, 6, 30)
    assert Month.parse("2020-02").last_day == date(2020, 2, 29)


@pytest.mark.parametrize("bad", ["2020-13", "2020-6", "June", "", "2020-00"])
def test_parse_rejects_malformed(bad):
    with pytest.raises(ValueError):
        Month.parse(bad)


def test_arithmetic_across_years():
    assert Month(2020, 12).next() == Month(2021, 1)
    assert Month(2021, 1).previous() == Month(2020, 12)
    assert Month(2021, 1).months_since(Month(2020, 4)) == 9
    assert [str(m) for m in months_between(Month(2020, 11), Month(2021, 2))] == [
        "2020-11", "2020-12", "2021-01", "2021-02"]


def test_chinese_labels():
    assert Month(2020, 6).label_zh() == "2020年6月"
    assert date_zh(date(2020, 7, 2)) == "2020年7月2日"
