"""Airflow listener (registered by ``plugins/supervision_ui.py``) that writes the run note of every
run of the monthly DAG, scheduled or manual, with or without ``report_month``:

* when the run starts (scheduler, ``on_dag_run_running``): ``数据月 2020-06 · 快照 <file>``;
* when it ends (``on_dag_run_success`` / ``on_dag_run_failed``): the same, plus the steward's
  decision and what followed (``已驳回（admin，…）· 未发送``), read from the warehouse
  (``steward_approvals``, ``delivery_ledger``); the decision is also the ``steward_approval``
  task's note.

The hooks run in the scheduler (or ``airflow dags test``) on the run's own database session, so
the notes are committed with the state change. A note a person wrote is left alone. A failure
here is logged and never fails the run.
"""
from __future__ import annotations

import logging

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

DAG_IDS = {"renovation_supervision_monthly"}
APPROVAL_TASK = "steward_approval"


def run_month(conf, data_interval_start) -> str | None:
    from supervision.run_notes import run_month as month  # noqa: PLC0415

    return month(conf, data_interval_start)


def _settings(dag_run):
    from supervision.run_notes import run_settings  # noqa: PLC0415

    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    return run_settings(dag_run.conf, dag_run.data_interval_start, run_type == "backfill")


def _set_note(obj, text: str) -> None:
    from supervision.run_notes import is_ours  # noqa: PLC0415

    if is_ours(obj.note) and obj.note != text:
        obj.note = text


def start_note(dag_run) -> str | None:
    from supervision.run_notes import note_text, snapshot_name  # noqa: PLC0415

    s = _settings(dag_run)
    return None if s is None else note_text(s.month, snapshot_name(s))


def end_note(dag_run, failed: bool) -> tuple[str | None, str | None]:
    """(run note, approval task note) of a finished run."""
    from supervision import warehouse as wh  # noqa: PLC0415
    from supervision.run_notes import decision_text, note_text, snapshot_name  # noqa: PLC0415

    s = _settings(dag_run)
    if s is None:
        return None, None
    engine = wh.connect(s.warehouse_url)
    decided = wh.records(wh.query(engine, "month_index/run_decision", m=s.month, run=dag_run.run_id))
    deliveries = {r["status"]: int(r["n"]) for r in
                  wh.records(wh.query(engine, "month_index/month_deliveries", m=s.month))}
    decision = decided[0] if decided else None
    if decision is None and failed:
        tail = "运行失败，未审批 · 未发送"
    else:
        tail = decision_text(decision, deliveries)
        if failed:
            tail += " · 运行失败"
    task = note_text(s.month, None, decision_text(decision, deliveries)) if decision else None
    return note_text(s.month, snapshot_name(s), tail), task


def _write(dag_run, run_text: str | None, task_text: str | None, ended: bool = False) -> None:
    """Set the notes on the run's own session (the scheduler commits them with the state
    change); a run detached from its session (``airflow dags test``) is updated in a new one."""
    from sqlalchemy.orm import object_session  # noqa: PLC0415

    session = object_session(dag_run)
    if session is None:
        from airflow.models.dagrun import DagRun  # noqa: PLC0415
        from airflow.utils.session import create_session  # noqa: PLC0415

        with create_session() as new:
            attached = new.get(DagRun, dag_run.id)
            if attached is not None:
                _apply(attached, new, run_text, task_text)
                if ended and _fix_dags_test_start(attached, new):
                    # dag.test() merges its own (detached) copy of the run afterwards: give it
                    # the same start, or the merge writes the logical date back
                    dag_run.start_date = attached.start_date
        return
    _apply(dag_run, session, run_text, task_text)
    if ended:
        _fix_dags_test_start(dag_run, session)


def _apply(dag_run, session, run_text: str | None, task_text: str | None) -> None:
    if run_text:
        _set_note(dag_run, run_text)
        log.info("run note of %s: %s", dag_run.run_id, run_text)
    if task_text:
        for ti in dag_run.get_task_instances(session=session):
            if ti.task_id == APPROVAL_TASK:
                _set_note(ti, task_text)


def _fix_dags_test_start(dag_run, session) -> bool:
    """``airflow dags test`` (``make run``) gives its run the *logical date* as start date
    (Airflow 3.3, ``airflow/sdk/definitions/dag.py``), so a month run today for July 2020 would
    show a duration of years. Such a run really started when its first task did: set here, at
    its end, in the same session (a scheduler's run, started after its logical date, is left
    alone)."""
    from airflow.models.taskinstance import TaskInstance as TI  # noqa: PLC0415
    from sqlalchemy import func, select  # noqa: PLC0415

    if dag_run.start_date is None or dag_run.start_date != dag_run.logical_date:
        return False
    first = session.scalar(select(func.min(TI.start_date)).where(
        TI.dag_id == dag_run.dag_id, TI.run_id == dag_run.run_id))
    if first is not None and first > dag_run.start_date:
        dag_run.start_date = first
        log.info("run %s (airflow dags test): start date set to its first task's, %s",
                 dag_run.run_id, first.isoformat())
        return True
    return False


def _notes(dag_run, stage: str) -> None:
    if dag_run.dag_id not in DAG_IDS:
        return
    try:
        if stage == "start":
            _write(dag_run, start_note(dag_run), None)
        else:
            _write(dag_run, *end_note(dag_run, failed=stage == "failed"), ended=True)
    except Exception:  # noqa: BLE001 - a note is never worth a failed run
        log.exception("could not write the run note of %s", dag_run.run_id)


@hookimpl
def on_dag_run_running(dag_run, msg):
    _notes(dag_run, "start")


@hookimpl
def on_dag_run_success(dag_run, msg):
    _notes(dag_run, "success")


@hookimpl
def on_dag_run_failed(dag_run, msg):
    _notes(dag_run, "failed")
