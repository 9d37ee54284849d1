"""
### Spot-check findings of old-community renovation (现场抽查核实, N8)

The second half of N8 (湘建城〔2020〕44号: "不定期进行抽查，重点对平台报送信息进行现场核实，
对弄虚作假的进行通报"). Inspectors return a data month's `spot_checks.xlsx` with 核实改造状态,
核实累计完成投资(万元), 核实结论, 核查人 and 核查日期 filled in, as
`spot_checks/<YYYY-MM>.xlsx` in the landing area.

**renovation_spot_check_findings** (one run = one data month, conf `report_month`):

1. **findings** — reads the file with the alias-driven readers, refuses it (naming file, row
   and column; nothing written or sent) for an unknown 项目编号, a 核实改造状态 outside
   未开工/已开工/已完工, unreadable money, a duplicated row or a month never run; compares each
   sampled record with what the month's counted record reported (结论 `CONSISTENT`,
   `STATUS_FALSIFIED`, `INVESTMENT_OVERSTATED`, `NOT_CHECKED`); writes
   `<output>/<M>/spot_checks/` (findings.csv/.xlsx, the steward's findings note, and the
   falsification bulletin HTML/PDF when any record is falsified) and the warehouse.
2. **steward_approval** — the monthly DAG's approval (human-in-the-loop, 3 days, default
   reject), asking with the findings note; not asked when nothing is falsified.
3. **send** — the bulletin to every city's three departments, 抄送 the city governments, once
   per recipient (the delivery ledger, document `falsification_bulletin`).

**renovation_spot_check_findings_watch** (every 30 minutes) senses findings files that are new
or changed since processed and triggers one findings run per (month, file content).

Run conf (findings): `report_month` (YYYY-MM, required), `inputs_dir`, `output_dir`, `send`.
Locally: `make findings MONTH=YYYY-MM INPUTS=<landing> OUTPUT=<dir>` (approval marked as given).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, PokeReturnValue, dag, get_current_context, task
from supervision_airflow.approval import StewardNotifier, steward_users
from supervision_airflow.spot_checks import FindingsApprovalOperator

DAG_ID = "renovation_spot_check_findings"
WATCH_DAG_ID = "renovation_spot_check_findings_watch"


def _settings():
    from supervision_airflow.spot_checks import findings_settings  # noqa: PLC0415

    return findings_settings(get_current_context())


@dag(
    dag_id=DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2020, 5, 1),
    catchup=False,
    max_active_runs=1,
    tags=["supervision", "renovation", "spot-checks"],
    default_args={"owner": "supervision", "retries": 0},
    params={
        "report_month": Param(None, type=["null", "string"], pattern=r"^\d{4}-\d{2}$",
                              description="data month YYYY-MM of the sample the findings are for"),
        "inputs_dir": Param(None, type=["null", "string"], description="landing area"),
        "output_dir": Param(None, type=["null", "string"], description="output folder"),
        "send": Param(None, type=["null", "boolean"], description="deliver after approval"),
    },
)
def renovation_spot_check_findings():
    @task(task_id="findings")
    def findings() -> dict:
        """Read, check and compare the findings; write spot_checks/ and the warehouse."""
        from supervision.findings import stage  # noqa: PLC0415

        return stage.process(_settings())

    approval = FindingsApprovalOperator(
        task_id="steward_approval",
        subject="{{ params.report_month }} 城镇老旧小区改造现场抽查核实结果：请数据管理员审核弄虚作假情况通报",
        # replaced at run time by the month's findings note (counts per city, links)
        body="请阅读本月的现场抽查核实结果后批准或驳回。批准后弄虚作假情况通报将发送至各市州；驳回则不发送。",
        defaults="Reject",
        response_timeout=timedelta(days=3),
        notifiers=[StewardNotifier()],
        assigned_users=steward_users(),
    )

    @task(task_id="send", retries=3, retry_delay=timedelta(minutes=2),
          retry_exponential_backoff=True)
    def send() -> dict:
        """Deliver the approved falsification bulletin, at most once per recipient."""
        from supervision_airflow.spot_checks import send as deliver  # noqa: PLC0415

        return deliver(_settings())

    findings() >> approval >> send()


renovation_spot_check_findings()


@dag(
    dag_id=WATCH_DAG_ID,
    doc_md=__doc__,
    schedule=timedelta(minutes=30),
    start_date=datetime(2020, 5, 1),
    catchup=False,
    max_active_runs=1,
    tags=["supervision", "renovation", "spot-checks"],
    default_args={"owner": "supervision", "retries": 0},
)
def renovation_spot_check_findings_watch():
    @task.sensor(task_id="wait_for_findings", poke_interval=300, timeout=25 * 60,
                 mode="reschedule", soft_fail=True)
    def wait_for_findings() -> PokeReturnValue:
        """Findings files new or changed since processed (none: skipped until the next run)."""
        from supervision_airflow.spot_checks import pending_conf  # noqa: PLC0415

        pending = pending_conf(get_current_context())
        return PokeReturnValue(is_done=bool(pending), xcom_value=pending)

    @task(task_id="runs")
    def runs(pending: list[dict]) -> list[dict]:
        from supervision_airflow.spot_checks import run_id_of  # noqa: PLC0415

        return [{"conf": c, "trigger_run_id": run_id_of(c)} for c in pending]

    TriggerDagRunOperator.partial(
        task_id="trigger_findings", trigger_dag_id=DAG_ID, skip_when_already_exists=True,
    ).expand_kwargs(runs(wait_for_findings()))


renovation_spot_check_findings_watch()
