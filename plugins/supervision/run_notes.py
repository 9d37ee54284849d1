"""What an Airflow run of the monthly DAG says about itself in its note (no Airflow here).

The note is Airflow's own "run note", set by the listener ``supervision_airflow.run_notes`` when
the run starts (data month and snapshot) and when it ends (the steward's decision and what it
means for delivery). The approval task gets the decision as its task note. Notes a person
wrote are never overwritten: only notes that start with :data:`PREFIX` are ours.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Mapping

from .approvals import APPROVED, NOT_REQUIRED, REJECTED, TIMED_OUT
from .settings import LOCAL_TZ, RunSettings

log = logging.getLogger(__name__)

PREFIX = "数据月 "


def run_settings(conf: Mapping[str, Any] | None, data_interval_start: datetime | None,
                 is_backfill: bool = False) -> RunSettings | None:
    """The run's settings as its tasks will resolve them, or None when they cannot be."""
    conf = {k: v for k, v in (conf or {}).items() if v is not None}
    try:
        return RunSettings.resolve(conf, data_interval_start, is_backfill=is_backfill)
    except (ValueError, TypeError) as exc:
        log.warning("run note: no data month (%s)", exc)
        return None


def run_month(conf: Mapping[str, Any] | None, data_interval_start: datetime | None) -> str | None:
    s = run_settings(conf, data_interval_start)
    return s.month if s else None


def snapshot_name(s: RunSettings) -> str | None:
    """The export snapshot the month's ingest will pick (or picked), if the landing area says."""
    from .landing import snapshot_for  # noqa: PLC0415

    try:
        return snapshot_for(s.inputs_dir, s.report_month).name
    except Exception:  # noqa: BLE001 - no snapshot yet: the ingest task will say so
        return None


def _local(at: str | None) -> str:
    if not at:
        return ""
    try:
        return datetime.fromisoformat(at).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return at


def decision_text(decision: Mapping[str, Any] | None, deliveries: Mapping[str, int] | None) -> str:
    """The steward's decision and what follows, in one line: who, when (Asia/Shanghai), and
    whether anything was sent."""
    if not decision:
        sent = int((deliveries or {}).get("sent", 0))
        # a local run (make run) marks the approval as given: no decision is recorded
        return f"无审批记录（本地运行）· 已发送 {sent} 份" if sent else "未审批 · 未发送"
    d, who, at = decision["decision"], decision.get("decided_by"), _local(decision.get("decided_at"))
    sent = int((deliveries or {}).get("sent", 0))
    failed = sum(int(v) for k, v in (deliveries or {}).items() if k != "sent")
    if d == APPROVED:
        tail = f"已发送 {sent} 份" + (f"，未完成 {failed} 份" if failed else "") if sent or failed else "待发送"
        return f"已批准（{who or '?'}，{at}）· {tail}"
    if d == REJECTED:
        return f"已驳回（{who or '?'}，{at}）· 未发送"
    if d == TIMED_OUT:
        return f"逾期未审，默认驳回（{at}）· 未发送"
    if d == NOT_REQUIRED:
        return "本次不发送（回填或 send=false），无需审批 · 未发送"
    return f"{d} · 未发送"


def note_text(month: str, snapshot: str | None, tail: str | None = None) -> str:
    """``数据月 2020-06 · 快照 export_20200701.xlsx · 已批准（admin，2020-07-02 09:30）· 已发送 42 份``."""
    parts = [f"{PREFIX}{month}"]
    if snapshot:
        parts.append(f"快照 {snapshot}")
    if tail:
        parts.append(tail)
    return " · ".join(parts)


def is_ours(note: str | None) -> bool:
    return not note or note.startswith(PREFIX)
