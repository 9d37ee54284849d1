"""The production topology, proven without Docker: PostgreSQL (two databases made by the
deployment's init script), Airflow's api-server, scheduler, dag-processor and triggerer on the
deployment's config (LocalExecutor, FAB auth manager), a month triggered through the REST API
v2, the steward's approval given through the human-in-the-loop API, then the month's files, the
warehouse rows in PostgreSQL and Airflow's own records checked. See tests/deploy/native_stack.py.

Slow (about two minutes here); marked ``integration``. On failure the message carries the tail
of every component's log and of the task logs.
"""
from __future__ import annotations

import csv
import email
import json
import time
from dataclasses import dataclass
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path

import pytest

from supervision.testing_servers import ReportOnce
from tests.deploy.native_stack import ComponentError, NativeStack, StackError, poll, steward_request_ready
from tests.independent import month_figures

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.airflow]

DAG_ID = "renovation_supervision_monthly"
RUN_ID = "topology__2020-06"
TASKS = {"ingest", "quality", "figures", "documents", "steward_approval", "send"}
ORDER = ["长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市", "张家界市", "益阳市",
         "郴州市", "永州市", "怀化市", "娄底市", "湘西自治州"]


@dataclass
class Outcome:
    stack: NativeStack
    run: dict
    task_states: dict
    hitl_before: dict
    hitl_after: dict
    seconds: dict


_TOPOLOGY = ReportOnce("the native topology (tests/deploy/native_stack.py)", fixture="topology")


@pytest.fixture(scope="module")
def topology(postgres_server, sample_landing, tmp_path_factory):
    stack = NativeStack(postgres_server, tmp_path_factory.mktemp("topology"), sample_landing)
    seconds = {}
    t0 = time.monotonic()
    with _TOPOLOGY.starting():
        try:
            outcome = _run_the_month(stack, sample_landing, seconds)
        except ComponentError as exc:      # names the component, carries its log's tail
            stack.stop()
            raise ComponentError(exc.component, exc.awaited, exc.log,
                                 f"{exc.detail} (every component's log: {stack.logs})") from exc
        except Exception as exc:
            diagnostics = stack.diagnostics()
            stack.stop()
            raise StackError(f"{exc}\n\n{diagnostics}") from exc
        except BaseException:
            stack.stop()
            raise
    try:
        yield outcome
    finally:
        stack.stop()
        print(f"\nnative topology: {', '.join(f'{k} {v:.0f} s' for k, v in seconds.items())}, "
              f"total {time.monotonic() - t0:.0f} s")


def _run_the_month(stack: NativeStack, sample_landing: Path, seconds: dict) -> "Outcome":
    t0 = time.monotonic()
    # every component up (health endpoint, heartbeats) and the DAG serialised
    dag = stack.start(timeout=120, dags=[DAG_ID])[DAG_ID]
    seconds["start"] = time.monotonic() - t0
    api = stack.api()

    assert dag["is_paused"], "a new DAG must start paused (config/airflow.cfg)"

    # an explicit logical date, data interval and conf: the run does not depend on the
    # DAG's timetable; triggered while paused, it waits queued until the DAG is unpaused
    r = api.post(f"/dags/{DAG_ID}/dagRuns", json={
        "dag_run_id": RUN_ID,
        "logical_date": "2020-07-02T01:00:00Z",
        "data_interval_start": "2020-05-31T16:00:00Z",
        "data_interval_end": "2020-06-30T16:00:00Z",
        "conf": {"report_month": "2020-06", "inputs_dir": str(sample_landing),
                 "output_dir": str(stack.output)},
    })
    assert r.status_code == 200, f"trigger: {r.status_code} {r.text}"
    r = api.patch(f"/dags/{DAG_ID}", json={"is_paused": False})
    assert r.status_code == 200 and r.json()["is_paused"] is False, r.text
    t1 = time.monotonic()

    hitl_url = f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/steward_approval/-1/hitlDetails"
    waiting_for_the_steward = steward_request_ready(stack, api, DAG_ID, RUN_ID)

    hitl_before = poll("steward_approval to wait for the steward", waiting_for_the_steward,
                        300, stack, interval=3)
    seconds["to_approval"] = time.monotonic() - t1
    approve = [o for o in hitl_before["options"] if o.lower().startswith("approv")]
    assert approve, f"no approve option among {hitl_before['options']}"
    r = api.patch(hitl_url, json={"chosen_options": approve[:1]})
    assert r.status_code == 200, f"approve: {r.status_code} {r.text}"

    def finished():
        run = api.get(f"/dags/{DAG_ID}/dagRuns/{RUN_ID}").json()
        return run.get("state") in ("success", "failed"), run

    run = poll("the run to finish", finished, 180, stack)
    seconds["run"] = time.monotonic() - t1
    tis = api.get(f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances").json()["task_instances"]
    outcome = Outcome(stack, run, {t["task_id"]: t["state"] for t in tis}, hitl_before,
                      api.get(hitl_url).json(), seconds)
    if run["state"] != "success":
        raise StackError(f"the run ended {run['state']}: {outcome.task_states}")
    return outcome


def _warehouse(stack: NativeStack, sql: str, **params) -> list[tuple]:
    import psycopg

    with psycopg.connect(host=stack.server.host, port=stack.server.port, user="topology_warehouse",
                         dbname=stack.warehouse_db) as conn:
        return conn.execute(sql, params).fetchall()


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_the_month_runs_through_the_services_and_the_steward_approves_it(topology):
    assert topology.run["state"] == "success"
    assert topology.run["logical_date"].startswith("2020-07-02T01:00:00")
    assert topology.run["conf"]["report_month"] == "2020-06"
    assert {t: topology.task_states.get(t) for t in TASKS} == {t: "success" for t in TASKS}
    # the approval was given through the REST API by the admin user, not marked as success
    assert topology.hitl_before["response_received"] is False
    assert topology.hitl_after["response_received"] is True
    assert topology.hitl_after["chosen_options"][0].lower().startswith("approv")
    assert topology.hitl_after["responded_by_user"]["name"] == "admin"


def test_airflow_metadata_lives_in_its_own_postgresql_database(topology):
    import psycopg

    stack = topology.stack
    with psycopg.connect(host=stack.server.host, port=stack.server.port, user="topology_airflow",
                         dbname=stack.airflow_db) as conn:
        runs = conn.execute("SELECT run_id, state FROM dag_run WHERE dag_id = %s",
                            (DAG_ID,)).fetchall()
        jobs = {r[0] for r in conn.execute("SELECT DISTINCT job_type FROM job").fetchall()}
        users = [r[0] for r in conn.execute("SELECT username FROM ab_user").fetchall()]
    assert runs == [(RUN_ID, "success")]     # USE_JOB_SCHEDULE off: no scheduled run beside it
    assert {"SchedulerJob", "DagProcessorJob", "TriggererJob"} <= jobs
    assert users == ["admin"]
    # each role owns its database and nothing else: the warehouse role cannot read Airflow's
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=stack.server.host, port=stack.server.port,
                        user="topology_warehouse", dbname=stack.airflow_db).close()


def test_the_month_folder_is_published(topology, sample_landing):
    folder = topology.stack.output / "2020-06"
    ranking = _rows(folder / "ranking.csv")
    assert [r["市州"] for r in ranking] == ORDER + ["全省"]
    for name in ("overdue.csv", "quarantine.csv", "quality_report.html", "monthly_bulletin.pdf",
                 "manifest.json"):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["inputs"]["snapshot"]["name"].endswith("_2020-07-01.xlsx")
    assert (folder / "monthly_bulletin.pdf").read_bytes().startswith(b"%PDF")


def test_the_warehouse_rows_are_in_postgresql(topology, sample_landing):
    stack = topology.stack
    figures = _warehouse(stack, "SELECT city, started_count, planned_invest_yuan, done_invest_yuan, "
                                "timely_count, score_rank FROM city_figures "
                                "WHERE report_month = %(m)s", m="2020-06")
    assert len(figures) == 15
    expected = month_figures(sample_landing, 2020, 6)
    by_city = {row[0]: row for row in figures}
    assert set(by_city) == set(ORDER) | {"全省"}
    for city in ORDER:
        e = expected[city]
        assert by_city[city][1:5] == (e["started"], e["planned"], e["done"], e["timely"]), city
    ranking = {r["市州"]: r for r in _rows(stack.output / "2020-06" / "ranking.csv")}
    assert all(str(by_city[c][5]) == ranking[c]["排名"] for c in ORDER)

    (load,) = _warehouse(stack, "SELECT kind, snapshot_file, rows_read, rows_accepted, "
                                "rows_quarantined FROM month_loads WHERE report_month = %(m)s",
                         m="2020-06")
    kind, snapshot, read, accepted, quarantined = load
    assert kind == "full" and snapshot.endswith("_2020-07-01.xlsx")
    (records,) = _warehouse(stack, "SELECT count(*) FROM monthly_records WHERE report_month = %(m)s",
                            m="2020-06")
    assert records[0] == read == accepted + quarantined > 900
    (in_quarantine,) = _warehouse(stack, "SELECT count(*) FROM quarantine WHERE report_month = %(m)s",
                                  m="2020-06")
    quarantine_csv = _rows(stack.output / "2020-06" / "quarantine.csv")
    assert in_quarantine[0] == quarantined == len(quarantine_csv) > 0


def _messages(topology) -> list:
    """Every message that left: .eml files of the outbox channel and what the SMTP stand-in
    caught."""
    raw = [p.read_bytes() for p in (topology.stack.output / "outbox" / "2020-06").glob("*.eml")]
    raw += topology.stack.caught_mail
    return [email.message_from_bytes(data, policy=default_policy) for data in raw]


def _delivered(topology) -> set[tuple[str, str]]:
    """(document, recipient) of every document sent to a city (the steward's approval request
    is not a delivery: it has no X-Supervision-Document)."""
    out = set()
    for m in _messages(topology):
        if m["X-Supervision-Document"] is None:
            continue
        for _, address in getaddresses(m.get_all("To", []) + m.get_all("Cc", [])):
            out.add((str(m["X-Supervision-Document"]), address))
    return out


def test_the_steward_was_asked_once_by_mail(topology):
    asks = [m for m in _messages(topology) if m["X-Supervision-Document"] is None]
    assert [a for m in asks for _, a in getaddresses(m.get_all("To", []))] == [
        "data-steward@example.gov.cn"]
    assert "quality_report.html" in asks[0].get_body(("plain", "html")).get_content()


def test_every_recipient_reached_is_in_the_delivery_ledger_once(topology):
    ledger = _warehouse(topology.stack, "SELECT document, recipient, status, channel "
                                        "FROM delivery_ledger WHERE report_month = %(m)s", m="2020-06")
    sent = {(d, r) for d, r, status, _ in ledger if status == "sent"}
    assert len(sent) == len([1 for *_, status, _ in ledger if status == "sent"])
    assert sent and sent == _delivered(topology)
    assert any(d == "monthly_bulletin" for d, _ in sent)
