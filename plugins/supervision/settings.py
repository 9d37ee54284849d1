"""What one run works on: the data month, where its inputs and outputs live, and how it delivers.

The month comes from the run conf (``report_month``) or from the run's data interval, never
from the clock; every location defaults to the embedded default (``supervision.paths``).

Delivery is a deployment choice, not a run's: ``SUPERVISION_DELIVERY=outbox`` (the embedded
default: .eml files in ``<output>/outbox/<month>/``) or ``smtp`` (the Airflow SMTP connection
``SUPERVISION_SMTP_CONN_ID``, default ``supervision_smtp``). It is never chosen by whether a
connection happens to exist: a production deployment whose connection went missing must fail,
not "send" to a local folder. Whether a run sends at all is the run's ``send`` (backfills: no).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote
from zoneinfo import ZoneInfo

from . import paths
from .months import Month

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
CONF_KEYS = {"report_month", "inputs_dir", "output_dir", "send"}
DELIVERY_CHANNELS = ("outbox", "smtp")
DEFAULT_SMTP_CONN_ID = "supervision_smtp"


def delivery_channel() -> str:
    """``SUPERVISION_DELIVERY``: ``outbox`` (default) or ``smtp``."""
    value = os.environ.get("SUPERVISION_DELIVERY", "outbox").strip().lower() or "outbox"
    if value not in DELIVERY_CHANNELS:
        raise ValueError(f"SUPERVISION_DELIVERY must be one of {', '.join(DELIVERY_CHANNELS)}, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "y", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "n", "off", ""):
        return False
    if isinstance(value, (int, float)):
        return bool(value)
    raise ValueError(f"send must be true or false, got {value!r}")


def months_index_url(ui_base_url: str) -> str:
    """The month index of the Airflow UI plugin (``plugins/supervision_ui.py``)."""
    return f"{ui_base_url.rstrip('/')}/supervision/"


@dataclass(frozen=True)
class RunSettings:
    report_month: Month
    inputs_dir: Path
    output_dir: Path
    warehouse_url: str
    outbox_dir: Path
    send: bool
    sender: str = "renovation-supervision@example.gov.cn"
    delivery: str = "outbox"                    # outbox | smtp (SUPERVISION_DELIVERY)
    smtp_conn_id: str = DEFAULT_SMTP_CONN_ID    # SUPERVISION_SMTP_CONN_ID

    @property
    def month(self) -> str:
        return str(self.report_month)

    def month_url(self, name: str, ui_base_url: str | None = None) -> str:
        """Where a reader finds a file of the month folder: under ``SUPERVISION_OUTPUT_BASE_URL``
        when the output folder is published by a web server; else, given the Airflow
        api-server's base URL, the UI plugin's ``/supervision/months/<month>/<name>`` (behind
        Airflow's login); else a file:// URL."""
        base = os.environ.get("SUPERVISION_OUTPUT_BASE_URL", "").rstrip("/")
        if base:
            return f"{base}/{self.month}/{quote(name)}"
        if ui_base_url:
            return f"{months_index_url(ui_base_url)}months/{self.month}/{quote(name)}"
        return (self.output_dir / self.month / name).as_uri()

    @classmethod
    def resolve(cls, conf: Mapping[str, Any] | None = None,
                data_interval_start: datetime | None = None,
                is_backfill: bool = False) -> "RunSettings":
        """Settings of one run. ``report_month`` in the conf wins; otherwise the data month is
        the month the data interval starts in (Asia/Shanghai). Backfilled runs send nothing
        unless the conf says ``send: true``."""
        conf = dict(conf or {})
        unknown = set(conf) - CONF_KEYS
        if unknown:
            raise ValueError(f"unknown run conf keys {sorted(unknown)}; allowed: {sorted(CONF_KEYS)}")
        if conf.get("report_month"):
            month = Month.parse(conf["report_month"])
        elif data_interval_start is not None:
            start = data_interval_start
            if start.tzinfo is not None:
                start = start.astimezone(LOCAL_TZ)
            month = Month.of(start.date())
        else:
            raise ValueError("no report_month in the run conf and no data interval to derive it from")
        send = _bool(conf["send"]) if "send" in conf else not is_backfill
        output_dir = Path(conf.get("output_dir") or paths.default_output_dir()).expanduser().resolve()
        return cls(
            report_month=month,
            inputs_dir=Path(conf.get("inputs_dir") or paths.default_inputs_dir()).expanduser().resolve(),
            output_dir=output_dir,
            warehouse_url=paths.default_warehouse_url(),
            outbox_dir=paths.default_outbox_dir(output_dir),
            send=send,
            sender=os.environ.get("SUPERVISION_SENDER", cls.sender),
            delivery=delivery_channel(),
            smtp_conn_id=os.environ.get("SUPERVISION_SMTP_CONN_ID", DEFAULT_SMTP_CONN_ID),
        )
