"""When the monthly supervision runs (N5): the rule behind the Airflow timetable, without Airflow.

From the first configured data month of a programme year (default May) to its last (default the
January after the year), the ranking of data month M is published on the 2nd of M+1 at the
configured time (Asia/Shanghai), moved to the next working day of China's official calendar when
the 2nd is a rest day. The run of M has the data interval [1st of M, 1st of M+1) in local time:
its data interval *is* the reported month, so a run derives its month from the interval and a
backfill of a range of months is a range of data intervals.

The Airflow timetable (``plugins/supervision_timetable.py``) only converts between this module's
aware datetimes and Airflow's types; the working-day rule is :mod:`supervision.workdays`, the same
one the documents use for their dates.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from .months import Month
from .workdays import WorkdayCalendar, default_calendar, nominal_publication_date

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_DAY = 2
DEFAULT_TIME = time(9, 0)
#: warn this many weeks before a publication day whose year the calendar does not cover
DEFAULT_WARNING_WEEKS = 10


class ScheduleError(ValueError):
    """The schedule configuration is inconsistent (overlapping windows, a bad day or time)."""


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):  # YAML reads 09:00 unquoted as 540 (sexagesimal minutes)
        return time(value // 60, value % 60)
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise ScheduleError(f"schedule time must be HH:MM, got {value!r}") from exc


@dataclass(frozen=True, order=True)
class Window:
    """The reported months of one programme year and the day/time their rankings are published."""

    first: Month
    last: Month
    day_of_month: int = DEFAULT_DAY
    at: time = DEFAULT_TIME

    def covers(self, month: Month) -> bool:
        return self.first <= month <= self.last

    def to_dict(self) -> dict[str, Any]:
        return {"first": str(self.first), "last": str(self.last), "day_of_month": self.day_of_month,
                "time": self.at.strftime("%H:%M")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Window":
        return cls(Month.parse(data["first"]), Month.parse(data["last"]),
                   int(data.get("day_of_month", DEFAULT_DAY)), _parse_time(data.get("time", "09:00")))


@dataclass(frozen=True)
class CalendarCheck:
    """What the calendar check of a run found."""

    next_month: Month | None          # the next scheduled data month after the run's month
    next_publication: date | None     # its publication day (None when not computable)
    missing: list[tuple[Month, date]]  # scheduled months within the warning horizon not covered
    error: str | None                 # the next run cannot be scheduled: someone must act now
    warning: str | None               # a run within the horizon cannot be scheduled yet

    def as_dict(self) -> dict[str, Any]:
        return {"next_month": str(self.next_month) if self.next_month else None,
                "next_publication": self.next_publication.isoformat() if self.next_publication else None,
                "missing": [{"month": str(m), "nominal_publication": d.isoformat()} for m, d in self.missing],
                "error": self.error, "warning": self.warning}


@dataclass(frozen=True)
class PublicationSchedule:
    windows: tuple[Window, ...]
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(sorted(self.windows)))

    # ------------------------------------------------------------------ configuration

    @classmethod
    def from_programmes(cls, programmes: Iterable[Any]) -> "PublicationSchedule":
        """One window per programme year (``first_month``..``last_month`` and its ``schedule``)."""
        windows, zones = [], set()
        for p in programmes:
            sched = dict(p.schedule or {})
            windows.append(Window(p.first_month, p.last_month,
                                  int(sched.get("day_of_month", DEFAULT_DAY)),
                                  _parse_time(sched.get("time", "09:00"))))
            zones.add(sched.get("timezone", DEFAULT_TIMEZONE))
        if len(zones) > 1:
            raise ScheduleError(f"programme years disagree on the schedule's timezone: {sorted(zones)}")
        return cls(tuple(windows), zones.pop() if zones else DEFAULT_TIMEZONE)

    @classmethod
    def from_config(cls, config_dir=None) -> "PublicationSchedule":
        """The schedule of every programme year in ``include/config/programmes/``."""
        from .config import available_programme_years, load_programme  # noqa: PLC0415

        return cls.from_programmes(load_programme(y, config_dir)
                                   for y in available_programme_years(config_dir))

    def validate(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:  # noqa: BLE001 - zoneinfo raises several types
            raise ScheduleError(f"unknown timezone {self.timezone!r}") from exc
        if not self.windows:
            raise ScheduleError("no programme year configured: nothing to schedule")
        for w in self.windows:
            if w.last < w.first:
                raise ScheduleError(f"window {w.first}..{w.last} ends before it starts")
            if not 1 <= w.day_of_month <= 28:
                raise ScheduleError(f"day_of_month must be 1..28, got {w.day_of_month}")
        for a, b in zip(self.windows, self.windows[1:]):
            if b.first <= a.last:
                raise ScheduleError(f"programme windows overlap: {a.first}..{a.last} and {b.first}..{b.last}")

    def to_dict(self) -> dict[str, Any]:
        return {"windows": [w.to_dict() for w in self.windows], "timezone": self.timezone}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PublicationSchedule":
        return cls(tuple(Window.from_dict(w) for w in data.get("windows", ())),
                   data.get("timezone", DEFAULT_TIMEZONE))

    # ------------------------------------------------------------------ months

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def window_of(self, month: Month) -> Window | None:
        for w in self.windows:
            if w.covers(month):
                return w
        return None

    def is_scheduled(self, month: Month) -> bool:
        return self.window_of(month) is not None

    def first_scheduled_from(self, month: Month) -> Month | None:
        """The first scheduled data month on or after ``month``."""
        for w in self.windows:
            if month <= w.last:
                return max(month, w.first)
        return None

    def last_scheduled_until(self, month: Month) -> Month | None:
        """The last scheduled data month on or before ``month``."""
        for w in reversed(self.windows):
            if w.first <= month:
                return min(month, w.last)
        return None

    def months(self) -> list[Month]:
        out = []
        for w in self.windows:
            m = w.first
            while m <= w.last:
                out.append(m)
                m = m.next()
        return out

    # ------------------------------------------------------------------ instants

    def month_of(self, instant: datetime) -> Month:
        """The calendar month an aware instant falls in, in the schedule's timezone."""
        if instant.tzinfo is None:
            raise ValueError(f"naive datetime {instant!r}: an instant needs a timezone")
        return Month.of(instant.astimezone(self.tz).date())

    def data_interval(self, month: Month) -> tuple[datetime, datetime]:
        """[1st of ``month`` 00:00, 1st of the next month 00:00) in local time."""
        start = datetime.combine(month.first_day, time(0), self.tz)
        end = datetime.combine(month.next().first_day, time(0), self.tz)
        return start, end

    def first_month_starting_at_or_after(self, instant: datetime) -> Month:
        """The first month whose data interval starts at or after ``instant``."""
        month = self.month_of(instant)
        return month if self.data_interval(month)[0] >= instant else month.next()

    def _window_or_default(self, month: Month) -> Window:
        return self.window_of(month) or (self.windows[0] if self.windows else Window(month, month))

    def publication_date(self, month: Month, calendar: WorkdayCalendar | None = None) -> date:
        w = self._window_or_default(month)
        return (calendar or default_calendar()).publication_date(month, w.day_of_month)

    def run_after(self, month: Month, calendar: WorkdayCalendar | None = None) -> datetime:
        """When the run of ``month`` starts: its publication day at the configured time."""
        w = self._window_or_default(month)
        return datetime.combine(self.publication_date(month, calendar), w.at, self.tz)

    def nominal_run(self, month: Month) -> datetime:
        """The unshifted publication moment of ``month`` (no calendar needed)."""
        w = self._window_or_default(month)
        return datetime.combine(nominal_publication_date(month, w.day_of_month), w.at, self.tz)

    # ------------------------------------------------------------------ what runs next

    def latest_due(self, now: datetime, calendar: WorkdayCalendar | None = None) -> Month | None:
        """The latest scheduled month whose publication moment is not after ``now``.

        The publication of M always falls in calendar month M+1 (no rest period is a month
        long), so only the month published in ``now``'s own month needs the calendar."""
        current = self.month_of(now)
        month = self.last_scheduled_until(current.previous())
        while month is not None:
            if month.next() < current or self.run_after(month, calendar) <= now:
                return month
            month = self.last_scheduled_until(month.previous())
        return None

    def next_month(self, *, last_interval_start: datetime | None, earliest: datetime | None,
                   latest: datetime | None, catchup: bool, now: datetime | None = None,
                   calendar: WorkdayCalendar | None = None) -> Month | None:
        """The data month of the next automated run (scheduled or backfilled), or None.

        After a run of M comes the next scheduled month after M; the first run is the first
        scheduled month whose interval starts at or after ``earliest``. Without catch-up, months
        whose publication has passed are skipped, except the latest one while it is still its
        publication cycle (before the day the following month would be published): deploying in
        the middle of a cycle runs the current month, deploying after a programme year has ended
        runs nothing. ``latest`` bounds the interval start (inclusive)."""
        if last_interval_start is not None:
            candidate = self.first_scheduled_from(self.month_of(last_interval_start).next())
        elif earliest is None:
            return None
        else:
            candidate = self.first_scheduled_from(self.first_month_starting_at_or_after(earliest))
        if candidate is None:
            return None
        if not catchup:
            if now is None:
                raise ValueError("now is needed when catchup is off")
            due = self.latest_due(now, calendar)
            if due is not None and due >= candidate:
                if now < self.nominal_run(due.next()):
                    candidate = due
                else:
                    candidate = self.first_scheduled_from(due.next())
                    if candidate is None:
                        return None
        if latest is not None and self.data_interval(candidate)[0] > latest:
            return None
        return candidate

    def manual_month(self, run_after: datetime) -> Month:
        """The data month of a manually triggered run: the last complete month before it."""
        return self.month_of(run_after).previous()

    # ------------------------------------------------------------------ calendar coverage

    def calendar_check(self, month: Month, calendar: WorkdayCalendar | None = None,
                       warning_weeks: int = DEFAULT_WARNING_WEEKS) -> CalendarCheck:
        """Can the runs after ``month``'s run be scheduled?

        ``error`` when the very next scheduled month's publication day is in a year the calendar
        does not cover (the scheduler cannot create that run); ``warning`` when a scheduled month
        published within ``warning_weeks`` weeks after ``month``'s publication is not covered."""
        calendar = calendar or default_calendar()
        start = self.nominal_run(month)
        horizon = start + timedelta(weeks=warning_weeks)
        missing = []
        m = self.first_scheduled_from(month.next())
        while m is not None and self.nominal_run(m) <= horizon:
            nominal = self.nominal_run(m).date()
            if not calendar.covers(nominal.year):
                missing.append((m, nominal))
            m = self.first_scheduled_from(m.next())
        nxt = self.first_scheduled_from(month.next())
        next_day, error = None, None
        if nxt is not None:
            nominal = self.nominal_run(nxt).date()
            if calendar.covers(nominal.year):
                next_day = self.publication_date(nxt, calendar)
            else:
                error = (f"the run of data month {nxt} (published on or after {nominal}) cannot be "
                         f"scheduled: the official working-day calendar of {nominal.year} is "
                         f"missing. Add the State Council's {nominal.year} arrangement to "
                         f"{calendar.origin} (reviewed) or upgrade chinesecalendar.")
        warning = None
        if missing:
            years = sorted({d.year for _, d in missing})
            warning = (f"the official working-day calendar of {', '.join(map(str, years))} is not "
                       f"loaded yet; runs due within {warning_weeks} weeks cannot be scheduled "
                       f"without it: " + ", ".join(f"{m} (around {d})" for m, d in missing)
                       + f". Add the reviewed arrangement to {calendar.origin} or upgrade "
                         f"chinesecalendar once it is published.")
        return CalendarCheck(nxt, next_day, missing, error, warning)

    # ------------------------------------------------------------------ words

    def summary(self) -> str:
        days = sorted({(w.day_of_month, w.at.strftime("%H:%M")) for w in self.windows})
        when = "; ".join(f"{d}日 {t}" for d, t in days) or "-"
        span = ", ".join(f"{w.first}..{w.last}" for w in self.windows)
        return f"每月{when}（遇休息日顺延至下一工作日）{self.timezone} · 数据月 {span}"

    def description(self) -> str:
        parts = []
        for w in self.windows:
            parts.append(f"data months {w.first} to {w.last}: on day {w.day_of_month} of the "
                         f"following month at {w.at.strftime('%H:%M')}")
        return ("Monthly ranking publication (湘建城〔2020〕44号): " + "; ".join(parts)
                + f" ({self.timezone}), moved to the next working day of China's official "
                  "calendar (法定节假日, 调休) when that day is a rest day. "
                  "Data interval = the reported month.")

