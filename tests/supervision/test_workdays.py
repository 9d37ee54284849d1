from datetime import date

import pytest

from supervision.months import Month
from supervision.workdays import CalendarNotCovered, is_workday, publication_date


@pytest.mark.parametrize("data_month, published", [
    ("2020-04", date(2020, 5, 6)),   # 2 May 2020: 劳动节 holiday (1–5 May)
    ("2020-05", date(2020, 6, 2)),   # a Tuesday
    ("2020-09", date(2020, 10, 9)),  # 国庆 + 中秋, 1–8 October 2020
    ("2020-12", date(2021, 1, 4)),   # 2 Jan 2021 is a Saturday in the 元旦 break
    ("2021-01", date(2021, 2, 2)),
])
def test_publication_day_moves_to_the_next_working_day(data_month, published):
    assert publication_date(Month.parse(data_month)) == published


def test_make_up_saturday_is_a_working_day():
    # 调休: Saturday 9 May 2020 was a working day
    assert date(2020, 5, 9).weekday() == 5 and is_workday(date(2020, 5, 9))


def test_a_year_the_calendar_does_not_cover_is_refused():
    with pytest.raises(CalendarNotCovered, match="2030"):
        is_workday(date(2030, 1, 2))
