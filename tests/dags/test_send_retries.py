"""The real DAG (``dag.test()``) sending June 2020 over SMTP to a throttling server (every 5th
message "421 try later" and a hang-up): with one pass a try, the month needs Airflow's own
retries of the send task, and is fully delivered within them, each recipient once (issue 14,
item 9). Only the retry *delay* is shortened for the test; the number of retries is the DAG's."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.fixtures.runs import warehouse_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.airflow
def test_a_throttled_month_is_delivered_within_the_send_tasks_retries(
        airflow_db, sample_landing, tmp_path, smtp_server, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from supervision import delivery, warehouse

    smtp_server.throttle_every, smtp_server.throttle_at = 5, "DATA"
    monkeypatch.setenv("AIRFLOW_CONN_SUPERVISION_SMTP", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_server.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 10, "retry_limit": 1,
                  "from_email": "ducha@jst.hunan.example.gov.cn"}}))
    monkeypatch.setenv("SUPERVISION_DELIVERY", "smtp")
    monkeypatch.setenv("SUPERVISION_SEND_ROUNDS", "1")      # each try one pass: retries needed
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    with warehouse_env(url):
        dag = DagBag(dag_folder=str(ROOT / "dags")).dags["renovation_supervision_monthly"]
        send = dag.get_task("send")
        retries = send.retries
        send.retry_delay = timedelta(seconds=1)
        dag_run = dag.test(
            logical_date=datetime(2020, 7, 2, 1, tzinfo=timezone.utc),
            run_conf={"report_month": "2020-06", "inputs_dir": str(sample_landing),
                      "output_dir": str(tmp_path / "out")},
            mark_success_pattern="steward_approval")
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "send")
    assert 1 < ti.try_number <= retries + 1          # Airflow retried, within the DAG's retries
    rows = delivery.ledger_rows(warehouse.connect(url), "2020-06")
    assert len(rows) == 168 and {r["status"] for r in rows} == {"sent"}
    assert set(smtp_server.deliveries().values()) == {1} and len(smtp_server.deliveries()) == 168
    assert smtp_server.throttled >= 8
