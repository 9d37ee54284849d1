"""The official working-day calendar: the package's years, reviewed overrides, and refusing
to guess a year nobody has published."""
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from supervision import workdays
from supervision.months import Month
from supervision.workdays import (CalendarConfigError, CalendarNotCovered, WorkdayCalendar,
                                  is_workday, parse_overrides, publication_date)

ROOT = Path(__file__).resolve().parents[2]
OVERRIDES = ROOT / "include" / "config" / "calendar_overrides.yaml"


@pytest.mark.parametrize("data_month, published", [
    ("2020-04", date(2020, 5, 6)),   # 2 May 2020: 劳动节 holiday (1–5 May)
    ("2020-05", date(2020, 6, 2)),   # a Tuesday
    ("2020-09", date(2020, 10, 9)),  # 国庆 + 中秋, 1–8 October 2020
    ("2020-12", date(2021, 1, 4)),   # 2 Jan 2021 is a Saturday in the 元旦 break
    ("2021-01", date(2021, 2, 2)),
    ("2021-09", date(2021, 10, 8)),  # 国庆 2021: 1–7 October
    ("2022-03", date(2022, 4, 2)),   # Saturday 2 April 2022 is a 调休 working day (清明)
    ("2022-09", date(2022, 10, 8)),  # 国庆 2022 ends on the 7th; Saturday the 8th is 调休
    ("2023-09", date(2023, 10, 7)),  # Saturday 7 October 2023 is a 调休 working day
    ("2025-01", date(2025, 2, 5)),   # 春节 2025: 28 January – 4 February
    ("2025-12", date(2026, 1, 4)),   # Sunday 4 January 2026 is a 调休 working day
    ("2026-09", date(2026, 10, 8)),  # 国庆 + 中秋 2026: 1–7 October
])
def test_publication_day_moves_to_the_next_working_day(data_month, published):
    assert publication_date(Month.parse(data_month)) == published


def test_make_up_saturday_is_a_working_day():
    # 调休: Saturday 9 May 2020 was a working day
    assert date(2020, 5, 9).weekday() == 5 and is_workday(date(2020, 5, 9))


def test_every_publication_day_2020_to_2026_is_the_first_working_day_from_the_2nd():
    cal = workdays.default_calendar()
    for year in range(2020, 2027):
        for month in range(1, 13):
            data_month = Month(year, month).previous()
            day = cal.publication_date(data_month)
            second = date(year, month, 2)
            assert day >= second and cal.is_workday(day)
            assert all(not cal.is_workday(second + timedelta(d)) for d in range((day - second).days))


def test_a_year_the_calendar_does_not_cover_is_refused():
    with pytest.raises(CalendarNotCovered, match="2030") as err:
        is_workday(date(2030, 1, 2))
    assert err.value.year == 2030
    assert "calendar_overrides.yaml" in str(err.value)


def test_the_shipped_override_file_is_valid_and_guesses_nothing():
    overrides = workdays.load_overrides(OVERRIDES)
    # every year it lists must be reviewed; today it lists none (chinesecalendar covers to 2026)
    assert all(a.reviewed_by and a.source for a in overrides.values())
    assert workdays.default_calendar().covered_years()[-1] == max([2026, *overrides])


def _documented_example() -> dict:
    """The commented example block of the shipped override file, uncommented."""
    text = OVERRIDES.read_text("utf-8")
    block = text[text.index("# years:"):text.index("\nyears:")]
    return yaml.safe_load("\n".join(line[2:] for line in block.splitlines()))


def test_the_documented_example_agrees_with_the_package_day_by_day():
    example = parse_overrides(_documented_example())
    only_override = WorkdayCalendar(example, use_package=False)
    package = WorkdayCalendar({})
    day = date(2020, 1, 1)
    while day.year == 2020:
        assert only_override.is_workday(day) == package.is_workday(day), day
        day += timedelta(days=1)
    assert not only_override.covers(2021)


def _arrangement(year=2030, **changes):
    entry = {"source": f"国务院办公厅关于{year}年部分节假日安排的通知（测试）", "reviewed_by": "李四",
             "reviewed_on": f"{year - 1}-11-20",
             "rest_days": [f"{year}-01-01", f"{year}-10-01", f"{year}-10-02", f"{year}-10-03",
                           f"{year}-10-04", f"{year}-10-07"],
             "make_up_workdays": [f"{year}-10-12"]}  # Saturday 12 October 2030
    entry.update(changes)
    return {"years": {year: entry}}


def test_an_override_year_is_used_and_wins_over_the_package():
    cal = WorkdayCalendar(parse_overrides(_arrangement()))
    assert cal.covers(2030) and cal.is_workday(date(2030, 10, 12))   # Saturday, 调休
    assert not cal.is_workday(date(2030, 10, 7))                       # Monday, rest day
    assert cal.publication_date(Month(2030, 9)) == date(2030, 10, 8)
    # an override of a year the package covers is the reviewed source: it wins
    cal_2020 = WorkdayCalendar(parse_overrides(_arrangement(2020, rest_days=["2020-06-02"],
                                                            make_up_workdays=[])))
    assert not cal_2020.is_workday(date(2020, 6, 2))
    assert cal_2020.publication_date(Month(2020, 5)) == date(2020, 6, 3)
    assert "reviewed by 李四" in cal_2020.source_of(2020)


def test_a_holiday_run_into_an_uncovered_year_is_refused():
    # 31 Dec 2026 is a Thursday; ask for the first working day from 2 Jan 2027
    with pytest.raises(CalendarNotCovered, match="2027"):
        workdays.default_calendar().publication_date(Month(2026, 12))


@pytest.mark.parametrize("changes, message", [
    ({"reviewed_by": ""}, "reviewed_by"),
    ({"source": None}, "source"),
    ({"rest_days": []}, "rest_days"),
    ({"make_up_workdays": ["2030-10-14"]}, "Saturdays or Sundays"),
    ({"rest_days": ["2031-01-01"]}, "outside 2030"),
    ({"rest_days": ["2030-10-12"]}, "both a rest day and a working day"),
    ({"rest_days": ["2030-02-30"]}, "not a date"),
])
def test_a_malformed_or_unreviewed_override_is_refused(changes, message):
    with pytest.raises(CalendarConfigError, match=message):
        parse_overrides(_arrangement(**changes))


def test_the_default_calendar_rereads_a_changed_override_file(tmp_path, monkeypatch):
    config = tmp_path / "include" / "config"
    config.mkdir(parents=True)
    monkeypatch.setenv("SUPERVISION_INCLUDE_DIR", str(tmp_path / "include"))
    path = config / "calendar_overrides.yaml"
    path.write_text("years: {}\n", "utf-8")
    assert not workdays.default_calendar().covers(2030)
    path.write_text(yaml.safe_dump(_arrangement(), allow_unicode=True), "utf-8")
    import os
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert workdays.default_calendar().covers(2030)
    assert workdays.publication_date(Month(2030, 9)) == date(2030, 10, 8)
