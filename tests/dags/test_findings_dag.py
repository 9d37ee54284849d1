"""A month's findings through the real DAG ``renovation_spot_check_findings`` (``dag.test()``,
the approval marked as given, as ``make findings`` does): findings, bulletin, mails in the
outbox once; a second run sends nothing."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from tests.fixtures import findings as ff
from tests.fixtures.runs import warehouse_env

ROOT = Path(__file__).resolve().parents[2]


def _run(s):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["renovation_spot_check_findings"]
    with warehouse_env(s.warehouse_url):
        return dag.test(
            logical_date=datetime(2020, 7, 14, 1, tzinfo=timezone.utc),
            run_conf={"report_month": s.month, "inputs_dir": str(s.inputs_dir),
                      "output_dir": str(s.output_dir)},
            mark_success_pattern="steward_approval")


@pytest.mark.airflow
def test_findings_through_the_dag(airflow_db, rendered_june, tmp_path):
    s = ff.own_copy(rendered_june, tmp_path)
    rows = ff.sample_rows(s)[3]
    ff.fill(s, {0: {"核实改造状态": "未开工"}, 1: dict.fromkeys(ff.FILL_IN)})
    run = _run(s)
    assert str(getattr(run.state, "value", run.state)) == "success"
    folder = Path(s.output_dir) / s.month / "spot_checks"
    found = pd.read_csv(folder / "findings.csv", dtype=str, encoding="utf-8-sig")
    assert len(found) == len(rows) and (found.结论 == "NOT_CHECKED").sum() == 1
    assert (folder / "falsification_bulletin.pdf").is_file()
    mails = sorted((Path(s.output_dir) / "outbox" / s.month).glob("falsification_bulletin_*.eml"))
    assert len(mails) == 14                          # one message per city (主送 + 抄送)
    again = _run(s)
    assert str(getattr(again.state, "value", again.state)) == "success"
    assert len(sorted((Path(s.output_dir) / "outbox" / s.month).glob("falsification_bulletin_*"))) == 14


def _awaiting(logical_date):
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(TI.id).join(TI.dag_run).where(
                DagRun.dag_id == "renovation_spot_check_findings", DagRun.logical_date == logical_date,
                TI.task_id == "steward_approval", TI.state == TaskInstanceState.AWAITING_INPUT))


def _run_answered(s, logical_date, chosen):
    """The DAG run with the steward answering ``chosen`` once the approval waits (the HITL API's
    way: tests/dags/test_steward_approval.py)."""
    import threading
    import time

    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_steward_approval import _answer

    seen = {}

    def steward():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            ti_id = _awaiting(logical_date)
            if ti_id is not None:
                seen["asked"] = True
                _answer(ti_id, chosen, {"id": "wang", "name": "王数据"})
                return
            time.sleep(0.5)

    thread = threading.Thread(target=steward, daemon=True)
    thread.start()
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["renovation_spot_check_findings"]
    with warehouse_env(s.warehouse_url):
        run = dag.test(logical_date=logical_date,
                       run_conf={"report_month": s.month, "inputs_dir": str(s.inputs_dir),
                                 "output_dir": str(s.output_dir)})
    thread.join(timeout=5)
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    return states, seen


def _decisions(s):
    from supervision import approvals
    from supervision import warehouse as wh

    return approvals.decisions(wh.connect(s.warehouse_url), s.month)


@pytest.mark.airflow
def test_a_rejected_bulletin_is_not_sent_and_the_steward_saw_the_counts(airflow_db, rendered_june, tmp_path):
    import email
    from email import policy

    s = ff.own_copy(rendered_june, tmp_path)
    ff.fill(s, {0: {"核实改造状态": "未开工"}})
    states, seen = _run_answered(s, datetime(2020, 7, 15, 1, tzinfo=timezone.utc), "Reject")
    assert seen.get("asked") and states["send"] == "skipped"
    outbox = Path(s.output_dir) / "outbox" / s.month
    assert not list(outbox.glob("falsification_bulletin_*.eml"))
    assert [d["decision"] for d in _decisions(s)] == ["rejected"]
    [request] = (outbox / "steward").glob("approval_request_*.eml")
    mail = email.message_from_bytes(request.read_bytes(), policy=policy.default)
    body = mail.get_body(preferencelist=("plain",)).get_content()   # multipart: text + HTML
    assert "| 长沙市 |" in body and "改造状态不实" in body and "falsification_bulletin.pdf" in body


@pytest.mark.airflow
def test_a_month_without_falsification_asks_nothing_and_sends_nothing(airflow_db, rendered_june, tmp_path):
    s = ff.own_copy(rendered_june, tmp_path)
    ff.fill(s)
    states, seen = _run_answered(s, datetime(2020, 7, 16, 1, tzinfo=timezone.utc), "Approve")
    assert not seen and states == {"findings": "success", "steward_approval": "success",
                                   "send": "success"}
    assert [d["decision"] for d in _decisions(s)] == ["not_required"]
    assert not (Path(s.output_dir) / "outbox").exists()


def test_the_watch_finds_new_files_once_per_content(rendered_june, tmp_path):
    from types import SimpleNamespace

    from supervision_airflow.spot_checks import pending_conf, run_id_of

    s = ff.own_copy(rendered_june, tmp_path)
    context = {"dag_run": SimpleNamespace(conf={"inputs_dir": str(s.inputs_dir),
                                                "output_dir": str(s.output_dir)})}
    with warehouse_env(s.warehouse_url):
        assert pending_conf(context) == []
        ff.fill(s)
        [conf] = pending_conf(context)
        assert conf == {"report_month": "2020-06", "inputs_dir": str(s.inputs_dir),
                        "output_dir": str(s.output_dir)}
        first = run_id_of(conf)
        assert first.startswith("findings__2020-06__") and run_id_of(conf) == first
        ff.fill(s, {0: dict.fromkeys(ff.FILL_IN)})
        assert run_id_of(conf) != first           # a corrected file is another run


def test_the_sample_secret_comes_from_an_airflow_variable(monkeypatch):
    import os

    from supervision.spot_check import SECRET_ENV
    from supervision_airflow.spot_checks import export_sample_secret

    # recorded as absent first, so that the secret the function exports is removed afterwards
    monkeypatch.setenv(SECRET_ENV, "")
    monkeypatch.delenv(SECRET_ENV)
    monkeypatch.delenv("AIRFLOW_VAR_SUPERVISION_SPOT_CHECK_SECRET", raising=False)
    assert export_sample_secret() is False and SECRET_ENV not in os.environ
    monkeypatch.setenv("AIRFLOW_VAR_SUPERVISION_SPOT_CHECK_SECRET", "province-secret")
    try:
        assert export_sample_secret() is True
        assert os.environ[SECRET_ENV] == "province-secret"
    finally:
        os.environ.pop(SECRET_ENV, None)
