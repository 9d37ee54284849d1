"""The working-day timetable as Airflow drives it: next_dagrun_info with explicit restrictions,
manual runs, serialization and registration, over 2020–2026 on the real calendar."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pendulum
import pytest
from airflow.exceptions import AirflowTimetableInvalid
from airflow.timetables.base import DataInterval, TimeRestriction

import supervision_timetable
from supervision.months import Month
from supervision.schedule import PublicationSchedule, Window
from supervision.workdays import CalendarNotCovered, default_calendar
from supervision_timetable import PublicationDayTimetable

SH = "Asia/Shanghai"


def sh(*args) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz=SH)


def timetable(*windows: tuple[str, str], day=2, at="09:00") -> PublicationDayTimetable:
    return PublicationDayTimetable(PublicationSchedule(tuple(
        Window.from_dict({"first": a, "last": b, "day_of_month": day, "time": at}) for a, b in windows)))


def runs(tt, earliest, latest=None, catchup=True):
    """Every automated run the timetable yields from ``earliest`` (as the scheduler asks)."""
    out, last = [], None
    restriction = TimeRestriction(earliest=earliest, latest=latest, catchup=catchup)
    while True:
        info = tt.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None:
            return out
        out.append(info)
        last = info.data_interval
        assert len(out) < 200


def month_of(info) -> str:
    return info.data_interval.start.in_timezone(SH).strftime("%Y-%m")


@pytest.mark.parametrize("data_month, run_after", [
    ("2020-04", sh(2020, 5, 6, 9)),    # 2 May 2020 is in the 劳动节 holiday
    ("2020-05", sh(2020, 6, 2, 9)),
    ("2020-09", sh(2020, 10, 9, 9)),   # 国庆 + 中秋 2020: 1–8 October
    ("2020-12", sh(2021, 1, 4, 9)),    # 元旦 2021, a weekend
    ("2022-03", sh(2022, 4, 2, 9)),    # Saturday 2 April 2022: a 调休 working day
    ("2023-09", sh(2023, 10, 7, 9)),   # Saturday 7 October 2023: a 调休 working day
    ("2025-12", sh(2026, 1, 4, 9)),    # Sunday 4 January 2026: a 调休 working day
])
def test_known_shifts(data_month, run_after):
    tt = timetable(("2020-01", "2026-11"))
    m = Month.parse(data_month)
    start = sh(m.year, m.month, 1)
    info = tt.next_dagrun_info(
        last_automated_data_interval=DataInterval(start.subtract(months=1), start),
        restriction=TimeRestriction(earliest=sh(2020, 1, 1), latest=None, catchup=True))
    assert info.run_after == run_after
    assert info.data_interval == DataInterval(start, start.add(months=1))
    assert info.logical_date == start


def test_every_run_2020_to_2026_is_on_the_first_working_day_from_the_2nd():
    tt = timetable(("2019-12", "2026-11"))
    cal = default_calendar()
    infos = runs(tt, sh(2019, 12, 1))
    assert [month_of(i) for i in infos] == [str(Month(2019, 12).shift(k)) for k in range(84)]
    for info in infos:
        local = info.run_after.in_timezone(SH)
        assert (local.hour, local.minute) == (9, 0)
        day, second = local.date(), date(local.year, local.month, 2)
        assert cal.is_workday(day) and day >= second
        assert all(not cal.is_workday(second + timedelta(d)) for d in range((day - second).days))
        # the data interval is the calendar month before the run, in China time
        start, end = (t.in_timezone(SH) for t in info.data_interval)
        assert (start.day, start.hour, end.day, end.hour) == (1, 0, 1, 0)
        assert Month.of(start.date()).next() == Month.of(day)
    for a, b in zip(infos, infos[1:]):
        assert a.data_interval.end == b.data_interval.start   # contiguous, no gap, no overlap


def test_the_programme_window_of_2020_runs_may_to_january():
    tt = PublicationDayTimetable.from_config()
    infos = runs(tt, tt.first_interval_start)
    assert [month_of(i) for i in infos] == ["2020-05", "2020-06", "2020-07", "2020-08", "2020-09",
                                            "2020-10", "2020-11", "2020-12", "2021-01"]
    assert [i.run_after.in_timezone(SH).date().isoformat() for i in infos] == [
        "2020-06-02", "2020-07-02", "2020-08-03", "2020-09-02", "2020-10-09", "2020-11-02",
        "2020-12-02", "2021-01-04", "2021-02-02"]


def test_several_programme_years_skip_the_months_between_them():
    tt = timetable(("2020-05", "2021-01"), ("2021-05", "2022-01"))
    months = [month_of(i) for i in runs(tt, sh(2020, 5, 1))]
    assert months[8:10] == ["2021-01", "2021-05"] and len(months) == 18


def test_restrictions_bound_the_runs_as_a_backfill_asks():
    tt = PublicationDayTimetable.from_config()
    # airflow backfill create --from-date 2020-05-01 --to-date 2020-12-01 (logical dates, China time)
    infos = runs(tt, sh(2020, 5, 1), latest=sh(2020, 12, 1))
    assert [month_of(i) for i in infos] == [f"2020-{m:02d}" for m in range(5, 13)]
    # an earliest that is not a month start begins with the next whole month
    assert month_of(runs(tt, sh(2020, 5, 2, 9))[0]) == "2020-06"
    # no start_date: nothing is scheduled
    assert runs(tt, None) == []


def _now(monkeypatch, at):
    monkeypatch.setattr(supervision_timetable, "_utcnow", lambda: pendulum.instance(at).in_timezone("UTC"))


def test_without_catchup_the_current_cycle_runs_and_the_past_is_skipped(monkeypatch):
    tt = PublicationDayTimetable.from_config()
    # deployed on 20 August 2020: July's ranking (published 3 August) is this cycle's -> run it
    _now(monkeypatch, sh(2020, 8, 20, 12))
    first = runs(tt, tt.first_interval_start, catchup=False)[0]
    assert month_of(first) == "2020-07"
    # deployed on 5 October 2020, before September's ranking (9 October): wait for it
    _now(monkeypatch, sh(2020, 10, 5, 12))
    first = runs(tt, tt.first_interval_start, catchup=False)[0]
    assert month_of(first) == "2020-09" and first.run_after == sh(2020, 10, 9, 9)
    # after a run, the next one follows it
    nxt = tt.next_dagrun_info(last_automated_data_interval=first.data_interval,
                              restriction=TimeRestriction(tt.first_interval_start, None, False))
    assert month_of(nxt) == "2020-10"


def test_without_catchup_a_finished_programme_year_schedules_nothing(monkeypatch):
    # today: the 2020 programme ended long ago; unpausing the DAG must not start a 2021-01 run
    _now(monkeypatch, sh(2026, 11, 26, 12))
    tt = PublicationDayTimetable.from_config()
    assert runs(tt, tt.first_interval_start, catchup=False) == []


def test_a_run_in_a_year_the_calendar_lacks_is_refused_not_guessed():
    tt = timetable(("2026-05", "2027-01"))
    last = DataInterval(sh(2026, 11, 1), sh(2026, 12, 1))
    with pytest.raises(CalendarNotCovered, match="2027"):
        tt.next_dagrun_info(last_automated_data_interval=last,
                            restriction=TimeRestriction(sh(2026, 5, 1), None, True))


def test_a_manual_run_reports_the_last_complete_month():
    tt = PublicationDayTimetable.from_config()
    for run_after, month in [(sh(2020, 7, 2, 9), "2020-06"), (sh(2020, 7, 1, 0, 30), "2020-06"),
                             (sh(2020, 6, 30, 23, 59), "2020-05"),
                             (pendulum.datetime(2020, 6, 30, 16, 30, tz="UTC"), "2020-06")]:
        interval = tt.infer_manual_data_interval(run_after=run_after)
        assert interval.start.in_timezone(SH).strftime("%Y-%m") == month
        assert interval.start.in_timezone(SH).day == 1 and interval.end == interval.start.in_timezone(SH).add(months=1)


def test_serialization_round_trip_through_airflow():
    from airflow.serialization.encoders import encode_timetable
    from airflow.serialization.decoders import decode_timetable

    tt = timetable(("2020-05", "2021-01"), ("2021-05", "2022-01"), day=3, at="08:30")
    encoded = encode_timetable(tt)
    assert encoded["__type"] == "supervision_timetable.PublicationDayTimetable"
    decoded = decode_timetable(encoded)
    # the class the plugin registered (the plugin loader runs the file as its own module object)
    assert type(decoded).__module__ == "supervision_timetable" and decoded == tt
    assert decoded.serialize() == tt.serialize()
    info = decoded.next_dagrun_info(last_automated_data_interval=None,
                                    restriction=TimeRestriction(sh(2020, 5, 1), None, True))
    assert info.run_after == sh(2020, 6, 3, 8, 30)


def test_the_plugin_registers_the_timetable():
    from airflow import plugins_manager

    registered = plugins_manager.get_timetables_plugins()
    cls = registered["supervision_timetable.PublicationDayTimetable"]
    assert cls.__name__ == "PublicationDayTimetable" and cls.__module__ == "supervision_timetable"
    # the plugin folder loads without errors, and the packages beside the timetable module
    # (supervision/, supervision_airflow/) are not imported as plugin modules (.airflowignore)
    assert plugins_manager.get_import_errors() == {}
    import sys
    assert "approval" not in sys.modules and "pipeline" not in sys.modules


def test_summary_and_description_for_the_ui():
    tt = PublicationDayTimetable.from_config()
    assert tt.summary == "每月2日 09:00（遇休息日顺延至下一工作日）Asia/Shanghai · 数据月 2020-05..2021-01"
    assert "next working day" in tt.description and "2020-05 to 2021-01" in tt.description


@pytest.mark.parametrize("windows, day, message", [
    ((("2020-05", "2021-01"), ("2020-12", "2021-06")), 2, "overlap"),
    ((("2021-01", "2020-05"),), 2, "ends before it starts"),
    ((("2020-05", "2021-01"),), 31, "day_of_month"),
    ((), 2, "no programme year"),
])
def test_validate_refuses_an_inconsistent_schedule(windows, day, message):
    with pytest.raises(AirflowTimetableInvalid, match=message):
        timetable(*windows, day=day).validate()


def test_the_configured_schedule_validates():
    PublicationDayTimetable.from_config().validate()


def test_times_are_aware_utc_for_the_scheduler():
    info = runs(PublicationDayTimetable.from_config(), sh(2020, 5, 1))[0]
    for t in (info.run_after, *info.data_interval):
        assert isinstance(t, datetime) and t.utcoffset() == timedelta(0)
