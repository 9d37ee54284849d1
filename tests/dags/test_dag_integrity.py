"""The DAG folder imports cleanly, the DAG has the ids the run interface promises (SPEC §7),
and parsing it stays light (no pandas / GX / WeasyPrint at module top)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dag_ids


def test_monthly_dag_ids_tags_and_stages(dagbag):
    dag = dagbag.dags["renovation_supervision_monthly"]
    assert dag is not None
    assert {"supervision", "monthly"} <= set(dag.tags)
    assert set(dag.task_ids) == {"check_calendar", "ingest", "quality", "figures", "documents",
                                 "steward_approval", "send"}
    order = ["ingest", "quality", "figures", "documents", "steward_approval", "send"]
    for upstream, downstream in zip(order, order[1:]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    # the calendar check neither waits for nor holds up the month's own pipeline
    check = dag.get_task("check_calendar")
    assert not check.upstream_task_ids and not check.downstream_task_ids
    assert dag.doc_md and "data month" in dag.doc_md
    assert dag.max_active_runs == 1


def test_steward_approval_is_the_hitl_operator(dagbag):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    task = dagbag.dags["renovation_supervision_monthly"].get_task("steward_approval")
    assert isinstance(task, ApprovalOperator)
    # no HITL default (Airflow's page would fill it as the primary button): the operator
    # applies Reject itself on timeout (tests/dags/test_steward_approval.py), so a timeout
    # sends nothing; Approve is preselected by the request's link
    assert task.defaults is None and task.options == ["Approve", "Reject"]
    assert task.response_timeout.days == 3
    assert task.notifiers, "the steward is notified"


def test_schedule_is_the_working_day_timetable_of_the_programme_years(dagbag):
    from supervision_timetable import PublicationDayTimetable

    dag = dagbag.dags["renovation_supervision_monthly"]
    assert isinstance(dag.timetable, PublicationDayTimetable)
    windows = dag.timetable.serialize()["windows"]
    assert windows[0] == {"first": "2020-05", "last": "2021-01", "day_of_month": 2, "time": "09:00"}
    # start_date is the start of the first data interval: May 2020 is the first run, not June
    assert dag.start_date == dag.timetable.first_interval_start
    assert not dag.catchup


def test_tasks_return_one_explicit_dict_xcom_and_send_defaults_to_true(dagbag):
    dag = dagbag.dags["renovation_supervision_monthly"]
    for task_id in ("check_calendar", "ingest", "quality", "figures", "documents", "send"):
        assert dag.get_task(task_id).multiple_outputs is False, task_id   # ruff AIR202
    assert dag.params.get_param("send").value is True   # the trigger form shows the real default


def test_send_retries_and_the_others_do_not(dagbag):
    dag = dagbag.dags["renovation_supervision_monthly"]
    assert dag.get_task("send").retries == 3
    assert all(dag.get_task(t).retries == 0 for t in dag.task_ids if t != "send")


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy(path):
    code = (
        "import sys, runpy\n"
        f"sys.path[:0] = [{str(ROOT / 'plugins')!r}, {str(ROOT / 'dags')!r}]\n"
        f"runpy.run_path({str(path)!r})\n"
        "heavy = [m for m in ('pandas', 'great_expectations', 'weasyprint', 'matplotlib', 'openpyxl')"
        " if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_findings_dag_ids_and_stages(dagbag):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    dag = dagbag.dags["renovation_spot_check_findings"]
    assert set(dag.task_ids) == {"findings", "steward_approval", "send"}
    assert dag.get_task("findings").downstream_task_ids == {"steward_approval"}
    assert dag.get_task("steward_approval").downstream_task_ids == {"send"}
    approval = dag.get_task("steward_approval")
    assert isinstance(approval, ApprovalOperator)   # the same human-in-the-loop approval
    assert approval.defaults == ["Reject"] and approval.response_timeout.days == 3
    assert approval.notifiers
    assert dag.get_task("send").retries == 3 and dag.get_task("findings").retries == 0
    assert dag.max_active_runs == 1 and type(dag.timetable).__name__ == "NullTimetable"
    assert "report_month" in dag.params


def test_the_findings_watch_triggers_one_run_per_findings_file(dagbag):
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    dag = dagbag.dags["renovation_spot_check_findings_watch"]
    assert set(dag.task_ids) == {"wait_for_findings", "runs", "trigger_findings"}
    trigger = dag.get_task("trigger_findings")
    assert trigger.operator_class is TriggerDagRunOperator or issubclass(
        getattr(trigger, "operator_class", TriggerDagRunOperator), TriggerDagRunOperator)
    assert trigger.partial_kwargs["trigger_dag_id"] == "renovation_spot_check_findings"
    assert trigger.partial_kwargs["skip_when_already_exists"] is True
    assert dag.get_task("wait_for_findings").soft_fail
