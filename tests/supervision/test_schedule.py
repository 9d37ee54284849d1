"""The schedule rule without Airflow: programme windows from configuration, and the calendar
check that warns weeks ahead and fails when the next run cannot be scheduled."""
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from supervision.config import load_programme
from supervision.months import Month
from supervision.schedule import PublicationSchedule, ScheduleError, Window
from supervision.workdays import WorkdayCalendar, parse_overrides

ROOT = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")


def test_windows_come_from_the_programme_years():
    s = PublicationSchedule.from_config()
    assert s.windows == (Window(Month(2020, 5), Month(2021, 1), 2, time(9, 0)),)
    assert s.timezone == "Asia/Shanghai"


def test_a_programme_without_first_and_last_month_runs_may_to_the_january_after(tmp_path):
    config = tmp_path / "config"
    (config / "programmes").mkdir(parents=True)
    (config / "provinces").mkdir()
    (config / "provinces" / "hunan.yaml").write_bytes(
        (ROOT / "include/config/provinces/hunan.yaml").read_bytes())
    from supervision.new_year import move_dates  # noqa: PLC0415

    # the 2020 file moved to 2022 (a 2022 file with 2020's dates is refused at load time)
    data = yaml.safe_load(move_dates(
        (ROOT / "include/config/programmes/2020.yaml").read_text("utf-8"), 2))
    data = {**data, "year": 2022}
    del data["first_month"], data["last_month"]
    data["schedule"] = {"day_of_month": 2, "time": "08:30", "timezone": "Asia/Shanghai"}
    (config / "programmes" / "2022.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    p = load_programme(2022, config)
    assert (p.first_month, p.last_month) == (Month(2022, 5), Month(2023, 1))
    s = PublicationSchedule.from_config(config)
    assert s.windows == (Window(Month(2022, 5), Month(2023, 1), 2, time(8, 30)),)


def test_an_unquoted_yaml_time_is_read_as_hours_and_minutes():
    # YAML 1.1 reads 09:00 unquoted as 540 (base-60); it still means nine o'clock
    assert Window.from_dict({"first": "2020-05", "last": "2021-01", "time": 540}).at == time(9, 0)
    with pytest.raises(ScheduleError, match="HH:MM"):
        Window.from_dict({"first": "2020-05", "last": "2021-01", "time": "nine"})


def test_latest_due_uses_the_calendar_only_for_the_current_month():
    s = PublicationSchedule.from_config()
    # 8 October 2020: September's ranking is due on the 9th, so the latest due is August
    assert s.latest_due(datetime(2020, 10, 8, 12, tzinfo=SH)) == Month(2020, 8)
    assert s.latest_due(datetime(2020, 10, 9, 9, tzinfo=SH)) == Month(2020, 9)
    assert s.latest_due(datetime(2020, 6, 1, tzinfo=SH)) is None
    # years later: the last month of the window, found without the calendar of that year
    empty = WorkdayCalendar({}, use_package=False)
    assert s.latest_due(datetime(2031, 3, 1, tzinfo=SH), empty) == Month(2021, 1)


def _calendar_with(year: int) -> WorkdayCalendar:
    """The package's years plus a reviewed (test) arrangement of ``year``."""
    return WorkdayCalendar(parse_overrides({"years": {year: {
        "source": "测试", "reviewed_by": "李四", "reviewed_on": f"{year - 1}-11-20",
        "rest_days": [f"{year}-01-01"]}}}))


def test_the_calendar_check_warns_weeks_ahead_of_a_missing_year():
    s = PublicationSchedule((Window(Month(2026, 5), Month(2027, 1)),))
    # the run of September 2026 (published 8 October): nothing missing within 10 weeks
    ok = s.calendar_check(Month(2026, 9))
    assert ok.warning is None and ok.error is None and ok.next_publication == date(2026, 11, 2)
    # the run of October 2026 (published 2 November): December's run is due around
    # 2 January 2027, within 10 weeks, and 2027 is not published yet -> warning, not error
    warn = s.calendar_check(Month(2026, 10))
    assert warn.error is None and warn.next_month == Month(2026, 11)
    assert warn.missing == [(Month(2026, 12), date(2027, 1, 2))]
    assert "2027" in warn.warning and "calendar_overrides.yaml" in warn.warning
    # a shorter horizon does not warn yet
    assert s.calendar_check(Month(2026, 10), warning_weeks=4).warning is None
    # the run of November 2026: the very next run cannot be scheduled -> error
    err = s.calendar_check(Month(2026, 11))
    assert err.next_month == Month(2026, 12) and err.next_publication is None
    assert "2027" in err.error and "cannot be scheduled" in err.error


def test_the_calendar_check_is_quiet_once_the_year_is_added():
    s = PublicationSchedule((Window(Month(2026, 5), Month(2027, 1)),))
    cal = _calendar_with(2027)
    check = s.calendar_check(Month(2026, 11), cal)
    assert check.error is None and check.warning is None
    assert check.next_publication == date(2027, 1, 4)   # 2 January 2027 is a Saturday


def test_the_calendar_check_after_the_last_month_needs_nothing():
    s = PublicationSchedule.from_config()
    check = s.calendar_check(Month(2021, 1), WorkdayCalendar({}, use_package=False))
    assert check.next_month is None and check.error is None and check.warning is None
    assert check.as_dict()["missing"] == []


def test_serialized_form_round_trips():
    s = PublicationSchedule((Window(Month(2021, 5), Month(2022, 1), 3, time(8, 30)),
                             Window(Month(2020, 5), Month(2021, 1))))
    assert PublicationSchedule.from_dict(s.to_dict()) == s
    assert s.windows[0].first == Month(2020, 5)   # kept in order
