"""
### Monthly supervision of old-community renovation (城镇老旧小区改造月度调度)

Implements the monthly monitoring of 湘建城〔2020〕44号: every month the province ranks its cities
on the renovation data its management system holds, supervises (督办) the cities that lag or
report late, and sends the documents to the city governments.

**Schedule** (N5): the ranking of data month M is published on the 2nd of M+1 at 09:00
Asia/Shanghai, or on the next working day of China's official calendar (法定节假日, 调休) when the
2nd is a rest day — from the first to the last data month of each programme year
(`include/config/programmes/<year>.yaml`, default May to the January after the year). One run =
one **data month**: the run's data interval is the month itself, or `report_month` in the run
conf. A year the calendar does not cover stops the schedule (it never guesses); see
`include/config/calendar_overrides.yaml`.

Stages:

1. **ingest** — picks the newest export snapshot dated on or before the 1st of the next month,
   reads it with the plan registry (附件2) and the targets (附件1); file-level problems stop
   the run here, naming the file and the column or month.
2. **quality** — the Great Expectations suite and the plan/last-month checks; quarantines
   invalid rows, loads the month into the warehouse (replacing it), writes the quality report.
3. **figures** — rankings, lag and the overdue list (SQL in `include/sql/figures/`);
   `ranking.csv/.xlsx`, `overdue.csv/.xlsx`.
4. **documents** — 月度通报 and 督办通知 (HTML + PDF), `manifest.json`; publishes
   `<output_dir>/<YYYY-MM>/`.
5. **steward_approval** — the data steward is notified, reads the quality report and approves
   or rejects; nothing reaches a city before approval. Reject or no answer within 3 days sends
   nothing and is recorded (`steward_approvals`). Runs that send nothing do not ask.
6. **send** — delivers each document once per recipient (ledger in the warehouse): SMTP
   (`SUPERVISION_DELIVERY=smtp`, Airflow connection `supervision_smtp`) or the outbox.

**check_calendar** runs beside them: it warns weeks ahead when a coming run falls in a year
the official calendar does not cover yet, and fails when the next run cannot be scheduled.

Run conf (all optional): `report_month` (YYYY-MM), `inputs_dir`, `output_dir`, `send` (bool;
backfilled runs send nothing unless `send` is true).
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task
from supervision_airflow.approval import StewardApprovalOperator, StewardNotifier, steward_users
from supervision_timetable import PublicationDayTimetable

DAG_ID = "renovation_supervision_monthly"
TIMETABLE = PublicationDayTimetable.from_config()


def _settings():
    from supervision_airflow import run_settings  # noqa: PLC0415

    return run_settings(get_current_context())


@dag(
    dag_id=DAG_ID,
    doc_md=__doc__,
    schedule=TIMETABLE,
    start_date=TIMETABLE.first_interval_start,
    catchup=False,
    max_active_runs=1,
    tags=["supervision", "renovation", "monthly"],
    default_args={"owner": "supervision", "retries": 0},
    params={
        "report_month": Param(None, type=["null", "string"], pattern=r"^\d{4}-\d{2}$",
                              description="data month YYYY-MM (default: the data interval's month)"),
        "inputs_dir": Param(None, type=["null", "string"], description="landing area"),
        "output_dir": Param(None, type=["null", "string"], description="output folder"),
        "send": Param(None, type=["null", "boolean"],
                      description="deliver after approval (default: yes, no for backfills)"),
    },
)
def renovation_supervision_monthly():
    @task(task_id="check_calendar")
    def check_calendar() -> dict:
        """Are the next runs' publication days known? Warn weeks ahead, fail when the next one is not."""
        from supervision_airflow.checks import check_calendar as check  # noqa: PLC0415

        return check(_settings())

    @task(task_id="ingest")
    def ingest() -> dict:
        """Read the month's snapshot, the plan registry and the targets (file-level checks)."""
        from supervision import pipeline  # noqa: PLC0415

        return pipeline.ingest(_settings())

    @task(task_id="quality")
    def quality(_: dict) -> dict:
        """Run the quality rules, quarantine invalid rows, load the warehouse, write the report."""
        from supervision import pipeline  # noqa: PLC0415

        return pipeline.check_quality(_settings())

    @task(task_id="figures")
    def figures(_: dict) -> dict:
        """Rankings, lag and the overdue list; ranking and overdue tables."""
        from supervision import pipeline  # noqa: PLC0415
        from supervision_airflow.spot_checks import export_sample_secret  # noqa: PLC0415

        export_sample_secret()   # the province's spot-check secret (Airflow Variable), if any
        return pipeline.compute_figures(_settings())

    @task(task_id="documents")
    def documents(_: dict) -> dict:
        """Render the bulletin and the notices, write the manifest, publish the month folder."""
        from supervision import pipeline  # noqa: PLC0415

        return pipeline.render_documents(_settings())

    approval = StewardApprovalOperator(
        task_id="steward_approval",
        subject="{{ params.report_month or data_interval_start.in_timezone('Asia/Shanghai').strftime('%Y-%m') }} "
                "城镇老旧小区改造月度数据：请数据管理员审核质量报告",
        # replaced at run time by the request written from the month's results (links included)
        body="请阅读本月的数据质量报告后批准或驳回。批准后通报和督办通知将发送至各市州；驳回则不发送任何文件。",
        defaults="Reject",                       # no answer within the timeout = reject
        response_timeout=timedelta(days=3),
        notifiers=[StewardNotifier()],
        assigned_users=steward_users(),
    )

    @task(task_id="send", retries=3, retry_delay=timedelta(minutes=2),
          retry_exponential_backoff=True)
    def send() -> dict:
        """Deliver the approved documents, at most once per (month, document, recipient)."""
        from supervision_airflow.sending import send as deliver  # noqa: PLC0415

        return deliver(_settings())

    check_calendar()
    docs = documents(figures(quality(ingest())))
    docs >> approval >> send()


renovation_supervision_monthly()
