"""The calendar check that runs with every month: are the next runs' publication days known?"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def check_calendar(s) -> dict[str, Any]:
    """Warn (task log, and the steward's approval request) when a run due within the warning
    horizon falls in a year the official calendar does not cover yet; fail when the very next
    run does (the scheduler cannot create it). The month's own pipeline does not wait for this."""
    from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

    from supervision.config import ConfigError, programme_for_month  # noqa: PLC0415
    from supervision.schedule import DEFAULT_WARNING_WEEKS, PublicationSchedule  # noqa: PLC0415

    schedule = PublicationSchedule.from_config()
    try:
        weeks = int(programme_for_month(s.report_month).schedule.get(
            "calendar_warning_weeks", DEFAULT_WARNING_WEEKS))
    except ConfigError:
        weeks = DEFAULT_WARNING_WEEKS
    result = schedule.calendar_check(s.report_month, warning_weeks=weeks)
    if result.warning:
        log.warning("calendar: %s", result.warning)
    if result.error:
        raise AirflowFailException(result.error)
    log.info("calendar: next run %s on %s", result.next_month, result.next_publication)
    return result.as_dict()
