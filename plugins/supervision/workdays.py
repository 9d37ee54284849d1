"""China's official working-day calendar (法定节假日 and 调休 make-up working days).

Two sources, and nothing else:

* the ``chinesecalendar`` package, which carries every year the State Council has announced up
  to its release (1.11: 2004–2026);
* the reviewed override file ``include/config/calendar_overrides.yaml``, for a year the package
  does not carry yet (the State Council publishes next year's arrangement in late autumn; a
  package release follows some time later). A year listed there wins over the package.

A date neither source covers raises :class:`CalendarNotCovered`: the schedule never guesses a
publication day. The timetable, the documents' dates (:func:`publication_date`) and the
calendar check of the DAG all use the same :class:`WorkdayCalendar`, so they cannot disagree.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from .months import Month

log = logging.getLogger(__name__)

OVERRIDES_FILE = "calendar_overrides.yaml"
#: the longest run of rest days (春节 with its weekends) is well under this
_MAX_REST_RUN = 40


class CalendarNotCovered(LookupError):
    """The official calendar for this date is not known (not yet published or not loaded)."""

    def __init__(self, message: str, year: int | None = None):
        super().__init__(message)
        self.year = year


class CalendarConfigError(ValueError):
    """The override file is malformed or not reviewed."""


@dataclass(frozen=True)
class YearArrangement:
    """One year's arrangement as the State Council's notice states it (reviewed by a person)."""

    year: int
    rest_days: frozenset[date]      # every day off of the holiday periods (weekends included)
    make_up_workdays: frozenset[date]  # 调休: weekend days that are working days
    source: str                     # the notice, e.g. 国办发明电〔2025〕7号
    reviewed_by: str
    reviewed_on: date

    def is_workday(self, day: date) -> bool:
        if day in self.make_up_workdays:
            return True
        return day.weekday() < 5 and day not in self.rest_days


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarConfigError(f"{where}: not a date (YYYY-MM-DD): {value!r}") from exc


def parse_overrides(data: Mapping[str, Any] | None, origin: str = OVERRIDES_FILE
                    ) -> dict[int, YearArrangement]:
    """The ``years:`` mapping of the override file, checked: each year names its source and
    its reviewer, lists its rest days, and every make-up working day is a Saturday or Sunday."""
    years = (data or {}).get("years") or {}
    if not isinstance(years, Mapping):
        raise CalendarConfigError(f"{origin}: 'years' must be a mapping of year -> arrangement")
    out: dict[int, YearArrangement] = {}
    for key, entry in years.items():
        try:
            year = int(key)
        except (TypeError, ValueError) as exc:
            raise CalendarConfigError(f"{origin}: {key!r} is not a year") from exc
        where = f"{origin}: {year}"
        if not isinstance(entry, Mapping):
            raise CalendarConfigError(f"{where}: expected a mapping")
        missing = [k for k in ("source", "reviewed_by", "reviewed_on", "rest_days") if not entry.get(k)]
        if missing:
            raise CalendarConfigError(
                f"{where}: missing {', '.join(missing)} (an override must be a reviewed copy of "
                f"the State Council's notice)")
        rest = {_as_date(v, where) for v in entry["rest_days"]}
        work = {_as_date(v, where) for v in entry.get("make_up_workdays") or ()}
        stray = sorted(d for d in rest | work if d.year != year)
        if stray:
            raise CalendarConfigError(f"{where}: dates outside {year}: {', '.join(map(str, stray))}")
        weekday_work = sorted(d for d in work if d.weekday() < 5)
        if weekday_work:
            raise CalendarConfigError(
                f"{where}: make_up_workdays must be Saturdays or Sundays, got "
                f"{', '.join(map(str, weekday_work))}")
        both = sorted(rest & work)
        if both:
            raise CalendarConfigError(f"{where}: both a rest day and a working day: "
                                      f"{', '.join(map(str, both))}")
        out[year] = YearArrangement(year, frozenset(rest), frozenset(work), str(entry["source"]),
                                    str(entry["reviewed_by"]),
                                    _as_date(entry["reviewed_on"], f"{where}: reviewed_on"))
    return out


def load_overrides(path: Path) -> dict[int, YearArrangement]:
    """The reviewed overrides in ``path`` (none when the file does not exist)."""
    import yaml  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if data is not None and not isinstance(data, Mapping):
        raise CalendarConfigError(f"{path}: expected a mapping at the top level")
    return parse_overrides(data, str(path))


def package_years() -> range:
    """The years the installed ``chinesecalendar`` carries."""
    from chinese_calendar.constants import holidays  # noqa: PLC0415

    years = [d.year for d in holidays]
    return range(min(years), max(years) + 1)


class WorkdayCalendar:
    """Working days of the official calendar: the package, overridden by reviewed years."""

    def __init__(self, overrides: Mapping[int, YearArrangement] | None = None,
                 use_package: bool = True, origin: str = OVERRIDES_FILE):
        self.overrides = dict(overrides or {})
        self.package_years = package_years() if use_package else range(0)
        self.origin = origin

    def covers(self, year: int) -> bool:
        return year in self.overrides or year in self.package_years

    def covered_years(self) -> list[int]:
        return sorted(set(self.package_years) | set(self.overrides))

    def source_of(self, year: int) -> str:
        if year in self.overrides:
            a = self.overrides[year]
            return f"{self.origin} ({a.source}; reviewed by {a.reviewed_by} on {a.reviewed_on})"
        if year in self.package_years:
            return "chinesecalendar"
        return "none"

    def is_workday(self, day: date) -> bool:
        if day.year in self.overrides:
            return self.overrides[day.year].is_workday(day)
        if day.year in self.package_years:
            import chinese_calendar  # noqa: PLC0415

            return bool(chinese_calendar.is_workday(day))
        raise CalendarNotCovered(
            f"the official working-day calendar for {day.year} is not available: chinesecalendar "
            f"covers {self.package_years.start}–{self.package_years.stop - 1} and {self.origin} "
            f"lists {sorted(self.overrides) or 'no year'}; add the State Council's {day.year} "
            f"arrangement to {self.origin} (reviewed) or upgrade chinesecalendar", year=day.year)

    def next_workday_on_or_after(self, day: date) -> date:
        for _ in range(_MAX_REST_RUN):
            if self.is_workday(day):
                return day
            day += timedelta(days=1)
        raise CalendarNotCovered(f"no working day within {_MAX_REST_RUN} days before {day}: "
                                 f"check the calendar data", year=day.year)

    def publication_date(self, data_month: Month, day_of_month: int = 2) -> date:
        """The day the ranking of ``data_month`` is published: the ``day_of_month`` of the next
        month, or the next working day when that is a rest day (N5)."""
        return self.next_workday_on_or_after(nominal_publication_date(data_month, day_of_month))


def nominal_publication_date(data_month: Month, day_of_month: int = 2) -> date:
    """The ``day_of_month`` of the month after ``data_month``, before any holiday shift."""
    following = data_month.next()
    return date(following.year, following.month, day_of_month)


def overrides_path() -> Path:
    from . import paths  # noqa: PLC0415

    return paths.config_dir() / OVERRIDES_FILE


@lru_cache(maxsize=8)
def _calendar(path: str, mtime_ns: int) -> WorkdayCalendar:
    return WorkdayCalendar(load_overrides(Path(path)), origin=str(path))


def default_calendar() -> WorkdayCalendar:
    """The calendar of this deployment. Re-read when the override file changes, so a long-running
    scheduler sees a newly reviewed year without a restart."""
    path = overrides_path()
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return _calendar(str(path), mtime)


def is_workday(day: date) -> bool:
    return default_calendar().is_workday(day)


def next_workday_on_or_after(day: date) -> date:
    return default_calendar().next_workday_on_or_after(day)


def publication_date(data_month: Month, day_of_month: int = 2) -> date:
    """The day the ranking of ``data_month`` is published (see :class:`WorkdayCalendar`)."""
    return default_calendar().publication_date(data_month, day_of_month)


def missing_years(calendar: WorkdayCalendar, days: Iterable[date]) -> list[int]:
    return sorted({d.year for d in days if not calendar.covers(d.year)})
