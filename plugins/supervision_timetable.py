"""Airflow timetable of the monthly supervision: the 2nd of each month, on China's working days.

Registered by :class:`SupervisionTimetablePlugin`; the plugin loader imports this file as the
top-level module ``supervision_timetable``, and the DAG imports the timetable by that name, so
the serialized DAG and the scheduler agree on ``supervision_timetable.PublicationDayTimetable``.

The rule itself (windows, data intervals, the working-day shift, catch-up) is
:mod:`supervision.schedule`, plain Python; this class only converts to and from Airflow's types.
"""
from __future__ import annotations

from typing import Any

import pendulum
from airflow.exceptions import AirflowTimetableInvalid
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

from supervision.schedule import PublicationSchedule, ScheduleError


def _utc(dt) -> pendulum.DateTime:
    return pendulum.instance(dt).in_timezone("UTC")


def _utcnow() -> pendulum.DateTime:
    return pendulum.now("UTC")


class PublicationDayTimetable(Timetable):
    """Runs the data month M on its publication day: the 2nd of M+1 at the configured time, or the
    next working day of China's official calendar; data interval = the month M (local time)."""

    periodic = True
    can_be_scheduled = True

    def __init__(self, schedule: PublicationSchedule):
        self.schedule = schedule
        self.description = schedule.description()

    @classmethod
    def from_config(cls, config_dir=None) -> "PublicationDayTimetable":
        """The windows of every programme year in ``include/config/programmes/``."""
        return cls(PublicationSchedule.from_config(config_dir))

    # -- Airflow interface -------------------------------------------------------------

    @property
    def summary(self) -> str:
        return self.schedule.summary()

    def serialize(self) -> dict[str, Any]:
        return self.schedule.to_dict()

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> "PublicationDayTimetable":
        return cls(PublicationSchedule.from_dict(data))

    def validate(self) -> None:
        try:
            self.schedule.validate()
        except ScheduleError as exc:
            raise AirflowTimetableInvalid(str(exc)) from exc

    def __eq__(self, other: object) -> bool:
        # by name: the plugin loader executes this file as its own module object, so a copy
        # imported earlier through sys.path is a different class with the same meaning
        return (type(other).__qualname__ == type(self).__qualname__
                and getattr(other, "schedule", None) == self.schedule)

    def __hash__(self) -> int:
        return hash(self.schedule)

    @property
    def first_interval_start(self) -> pendulum.DateTime:
        """Where the DAG's ``start_date`` belongs: the start of the first scheduled month."""
        return pendulum.instance(self.schedule.data_interval(self.schedule.windows[0].first)[0])

    def _info(self, month) -> DagRunInfo:
        start, end = self.schedule.data_interval(month)
        return DagRunInfo(run_after=_utc(self.schedule.run_after(month)),
                          data_interval=DataInterval(_utc(start), _utc(end)))

    def infer_manual_data_interval(self, *, run_after) -> DataInterval:
        """A manual run reports the last complete month before it (``report_month`` in the run
        conf overrides the month the tasks work on, not this interval)."""
        start, end = self.schedule.data_interval(self.schedule.manual_month(_utc(run_after)))
        return DataInterval(_utc(start), _utc(end))

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        # a date the working-day calendar does not cover raises CalendarNotCovered here: the
        # scheduler logs it and creates no run -- it never guesses a publication day
        month = self.schedule.next_month(
            last_interval_start=last_automated_data_interval.start if last_automated_data_interval else None,
            earliest=restriction.earliest, latest=restriction.latest, catchup=restriction.catchup,
            now=None if restriction.catchup else _utcnow())
        return None if month is None else self._info(month)


class SupervisionTimetablePlugin(AirflowPlugin):
    name = "supervision_timetable"
    timetables = [PublicationDayTimetable]
