"""The steward's approval through the real DAG (``dag.test()``) and Airflow's human-in-the-loop
machinery: the steward is asked and notified; a rejection or a timeout sends nothing and is
recorded; an approval sends over SMTP; a run that sends nothing does not ask.

The month's documents are rendered once (``rendered_june``); the runs mark the stages before the
approval as done, so each test exercises the approval and the send task only. The steward's
answer is given as Airflow's HITL API gives it (the response stored, the parked task resumed);
the timeout is resolved by the scheduler's own timeout sweep.
"""
from __future__ import annotations

import email
import re
import json
import os
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import text

from supervision import warehouse

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "renovation_supervision_monthly"
STAGES_BEFORE = "check_calendar|ingest|quality|figures|documents"


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags[DAG_ID]


@pytest.fixture()
def month(rendered_june, tmp_path, monkeypatch):
    """A copy of the rendered month in the test's own output folder, with its own warehouse."""
    out = tmp_path / "out"
    shutil.copytree(rendered_june.output_dir / "2020-06", out / "2020-06")
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", url)
    return {"out": out, "url": url, "inputs": rendered_june.inputs_dir}


def _awaiting_ti(logical_date):
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(TI.id).join(TI.dag_run).where(
                DagRun.dag_id == DAG_ID, DagRun.logical_date == logical_date,
                TI.task_id == "steward_approval", TI.state == TaskInstanceState.AWAITING_INPUT))


def _answer(ti_id, chosen: str, user: dict) -> None:
    """What Airflow's HITL API does when the steward answers (routes/public/hitl.py)."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.trigger import handle_event_submit
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.get(TI, ti_id)
        detail = session.get(HITLDetail, ti_id)
        detail.responded_by = user
        detail.responded_at = datetime.now(timezone.utc)
        detail.chosen_options = [chosen]
        detail.params_input = {}
        session.add(detail)
        handle_event_submit(TriggerEvent(detail.as_resume_event_payload()), task_instance=ti,
                            session=session)


def _time_out(ti_id) -> None:
    """Let the response deadline pass and run the scheduler's AWAITING_INPUT timeout sweep."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.get(TI, ti_id)
        assert ti.trigger_timeout is not None   # the operator's 3-day response_timeout
        ti.trigger_timeout = datetime.now(timezone.utc) - timedelta(seconds=1)
    SchedulerJobRunner(job=Job(), executors=[]).check_awaiting_input_timeouts()


def _run(dag, logical_date, conf, respond):
    """``dag.test()`` in this thread; ``respond(ti_id)`` from another once the approval waits."""
    seen = {}

    def steward():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            ti_id = _awaiting_ti(logical_date)
            if ti_id is not None:
                seen["asked"] = True
                respond(ti_id)
                return
            time.sleep(0.5)

    thread = threading.Thread(target=steward, daemon=True)
    thread.start()
    dag_run = dag.test(logical_date=logical_date, run_conf=conf, mark_success_pattern=STAGES_BEFORE)
    thread.join(timeout=5)
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
    return dag_run, states, seen


def _notes(dag_run):
    """(run note, steward_approval task note), as Airflow stores them."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.get(DagRun, dag_run.id)
        [ti] = [t for t in run.get_task_instances(session=session) if t.task_id == "steward_approval"]
        return run.note, ti.note


def _run_times(dag_run):
    """(logical date, start date, first task's start) of the run, as Airflow stores them."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.get(DagRun, dag_run.id)
        starts = [t.start_date for t in run.get_task_instances(session=session) if t.start_date]
        return run.logical_date, run.start_date, min(starts)


def _decisions(url):
    with warehouse.connect(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM steward_approvals"))]


def _ledger(url):
    with warehouse.connect(url).connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM delivery_ledger")).scalar()


def _conf(month):
    return {"report_month": "2020-06", "inputs_dir": str(month["inputs"]), "output_dir": str(month["out"])}


@pytest.mark.airflow
def test_a_rejected_month_sends_nothing_and_leaves_a_record(dag, month):
    steward = {"id": "wang.steward", "name": "王数据"}
    dag_run, states, seen = _run(dag, datetime(2020, 7, 3, 1, tzinfo=timezone.utc), _conf(month),
                                 lambda ti: _answer(ti, "Reject", steward))
    assert seen.get("asked"), "the approval never waited for the steward"
    assert states["steward_approval"] == "success" and states["send"] == "skipped"
    assert not list((month["out"] / "outbox" / "2020-06").glob("*.eml"))   # no city mail
    assert _ledger(month["url"]) == 0
    [d] = _decisions(month["url"])
    assert (d["report_month"], d["decision"], d["decided_by"]) == ("2020-06", "rejected", "王数据")
    # the rejection is visible on the run and on the approval task: who, when, nothing sent
    run_note, task_note = _notes(dag_run)
    assert run_note.startswith("数据月 2020-06 · 快照 ") and "已驳回（王数据，" in run_note
    assert run_note.endswith("· 未发送") and task_note.startswith("数据月 2020-06 · 已驳回（王数据，")
    assert d["run_id"] == dag_run.run_id and d["quality_report"].endswith("2020-06/quality_report.html")
    # dag.test() starts its run at the logical date (2020): the listener sets the real start,
    # the first task's, so the UI does not show a run of six years
    logical, started, first_task = _run_times(dag_run)
    assert logical.year == 2020 and started == first_task
    # the steward was notified, with the link to the quality report
    [request] = (month["out"] / "outbox" / "2020-06" / "steward").glob("approval_request_*.eml")
    mail = email.message_from_bytes(request.read_bytes(), policy=policy.default)
    assert mail.get_content_type() == "multipart/alternative"   # text + HTML with working links
    body = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    # absolute http(s) links to the UI plugin (the api-server's base URL), not file:// URLs
    report = "/supervision/months/2020-06/quality_report.html"
    assert re.search(r"\(https?://[^)]+" + re.escape(report) + r"\)", body), body
    assert re.search(r'href="https?://[^"]+' + re.escape(report) + '"', html), html
    assert "monthly_bulletin.pdf" in body and "/supervision/)" in body
    assert "_options=%5B%22Approve%22%5D" in body      # the request's link preselects Approve


@pytest.mark.airflow
def test_no_answer_within_the_timeout_sends_nothing_and_is_recorded(dag, month):
    dag_run, states, seen = _run(dag, datetime(2020, 7, 4, 1, tzinfo=timezone.utc), _conf(month), _time_out)
    assert seen.get("asked")
    assert states["send"] == "skipped" and _ledger(month["url"]) == 0
    [d] = _decisions(month["url"])
    assert (d["decision"], d["decided_by"]) == ("timed_out", None)
    run_note, task_note = _notes(dag_run)
    assert run_note.startswith("数据月 2020-06 · 快照 ") and "逾期未审，默认驳回" in run_note
    assert run_note.endswith("未发送") and "逾期未审" in task_note


@pytest.mark.airflow
def test_an_approved_month_is_sent_over_smtp(dag, month, smtp_server, monkeypatch):
    monkeypatch.setenv("SUPERVISION_DELIVERY", "smtp")
    monkeypatch.setenv("SUPERVISION_STEWARD_EMAIL", "steward@jst.hunan.example.gov.cn")
    monkeypatch.setenv("AIRFLOW_CONN_SUPERVISION_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp_server.port,
         "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0,
                   "from_email": "ducha@jst.hunan.example.gov.cn"}}))
    dag_run, states, seen = _run(dag, datetime(2020, 7, 5, 1, tzinfo=timezone.utc), _conf(month),
                                 lambda ti: _answer(ti, "Approve", {"id": "wang", "name": "王数据"}))
    assert states["steward_approval"] == "success" and states["send"] == "success"
    assert [d["decision"] for d in _decisions(month["url"])] == ["approved"]
    city_mail = [m for rcpts, m in smtp_server.received if m["X-Supervision-Document"]]
    steward_mail = [m for rcpts, m in smtp_server.received if not m["X-Supervision-Document"]]
    assert len(city_mail) == 42 and set(smtp_server.deliveries().values()) == {1}
    assert len(steward_mail) == 1 and "quality_report.html" in steward_mail[0].get_body(("plain",)).get_content()
    assert _ledger(month["url"]) == 168


@pytest.mark.airflow
def test_a_backfilled_run_that_sends_nothing_does_not_ask(dag, month):
    """A backfill (or send: false) renders but sends nothing, so no approval is asked for."""
    conf = {**_conf(month), "send": False}
    dag_run, states, seen = _run(dag, datetime(2020, 7, 6, 1, tzinfo=timezone.utc), conf,
                                 lambda ti: _answer(ti, "Approve", {"id": "x", "name": "x"}))
    assert not seen, "a run that sends nothing must not wait for the steward"
    assert states["steward_approval"] == "success" and states["send"] == "success"
    assert [d["decision"] for d in _decisions(month["url"])] == ["not_required"]
    assert _ledger(month["url"]) == 0 and not (month["out"] / "outbox").exists()
