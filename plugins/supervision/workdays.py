"""China's official working-day calendar (法定节假日 and 调休 make-up working days).

Backed by the ``chinesecalendar`` package, which covers the years the State Council has
announced. A date the package does not cover raises :class:`CalendarNotCovered`: the schedule
never guesses a publication day.
"""
from __future__ import annotations

from datetime import date, timedelta

from .months import Month


class CalendarNotCovered(LookupError):
    """The official calendar for this date is not known (not yet published or not loaded)."""


def is_workday(day: date) -> bool:
    import chinese_calendar  # noqa: PLC0415

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        raise CalendarNotCovered(
            f"the official working-day calendar for {day.year} is not available "
            f"(chinesecalendar covers up to its release; add the year's arrangement)") from exc


def next_workday_on_or_after(day: date) -> date:
    for _ in range(40):  # the longest holiday (春节 + 调休) is well under 40 days
        if is_workday(day):
            return day
        day += timedelta(days=1)
    raise CalendarNotCovered(f"no working day within 40 days after {day}")  # pragma: no cover


def publication_date(data_month: Month, day_of_month: int = 2) -> date:
    """The day the ranking of ``data_month`` is published: the ``day_of_month`` of the next
    month, or the next working day when that is a rest day (N5)."""
    following = data_month.next()
    return next_workday_on_or_after(date(following.year, following.month, day_of_month))
