"""
### 城镇老旧小区改造月度调度（运维人员先读）

- **一次运行 = 一个数据月。** 运行的备注（Note）写明数据月和所用快照，例如
  `数据月 2020-06 · 快照 …`；结束时再写上数据管理员的审批结论（谁、何时）和是否已发送。
  按数据月查找运行：在 Runs 列表中按备注搜索“数据月 2020-06”。
- **审批：** `steward_approval` 等待数据管理员在 Required actions 页面批准或驳回；请先点开
  请求中的“质量报告”链接阅读报告。**批准**后发送通报和督办通知；**驳回**或 3 天内无人处理
  （默认驳回）则不发送任何文件，运行备注写明“未发送”。
- **月度数据**（导航栏 Browse → 月度数据 Months，或 `<Airflow 地址>/supervision/`）：各数据月的
  质量报告、通报、督办通知、表格和 manifest，以及审批和发送情况；每个运行的“月份文件”标签页直达该月。
- **“Next Run”为空**：当前没有哪个计划年度（`include/config/programmes/<year>.yaml`）覆盖今天
  之后的发布日，或官方工作日历未覆盖下一个发布日所在年份。调度不会猜测日期；`check_calendar`
  任务会提前数周预警。补齐配置后 Next Run 即恢复。手动触发（填写 `report_month`）不受影响。
- 手动触发的表单：`report_month`（YYYY-MM，留空则为上一个完整月份），`send`（默认是：批准后发送）。

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

Run conf (all optional): `report_month` (YYYY-MM), `inputs_dir`, `output_dir`, `send` (bool,
default true in the trigger form; backfilled runs send nothing unless `send` is true).

**Next Run is empty** when no programme year covers a publication day after today, or the
official working-day calendar does not cover the next one's year: the timetable never guesses.
Manual runs with `report_month` still work.
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
        "send": Param(True, type="boolean",
                      description="deliver after approval. Backfills (make backfill, airflow "
                                  "backfill create) send nothing unless their conf says true"),
    },
)
def renovation_supervision_monthly():
    @task(task_id="check_calendar", multiple_outputs=False)
    def check_calendar() -> dict:
        """Are the next runs' publication days known? Warn weeks ahead, fail when the next one is not."""
        from supervision_airflow.checks import check_calendar as check  # noqa: PLC0415

        return check(_settings())

    @task(task_id="ingest", multiple_outputs=False)
    def ingest() -> dict:
        """Read the month's snapshot, the plan registry and the targets (file-level checks)."""
        from supervision import pipeline  # noqa: PLC0415

        return pipeline.ingest(_settings())

    @task(task_id="quality", multiple_outputs=False)
    def quality(_: dict) -> dict:
        """Run the quality rules, quarantine invalid rows, load the warehouse, write the report."""
        from supervision import pipeline  # noqa: PLC0415

        return pipeline.check_quality(_settings())

    @task(task_id="figures", multiple_outputs=False)
    def figures(_: dict) -> dict:
        """Rankings, lag and the overdue list; ranking and overdue tables."""
        from supervision import pipeline  # noqa: PLC0415
        from supervision_airflow.spot_checks import export_sample_secret  # noqa: PLC0415

        export_sample_secret()   # the province's spot-check secret (Airflow Variable), if any
        return pipeline.compute_figures(_settings())

    @task(task_id="documents", multiple_outputs=False)
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
        # no answer within the timeout = Reject, applied by the operator: no HITL default, so
        # Airflow's page does not fill Reject as the primary button (the request's link
        # preselects Approve)
        defaults=None,
        response_timeout=timedelta(days=3),
        notifiers=[StewardNotifier()],
        assigned_users=steward_users(),
    )

    @task(task_id="send", multiple_outputs=False, retries=3, retry_delay=timedelta(minutes=2),
          retry_exponential_backoff=True)
    def send() -> dict:
        """Deliver the approved documents, at most once per (month, document, recipient)."""
        from supervision_airflow.sending import send as deliver  # noqa: PLC0415

        return deliver(_settings())

    check_calendar()
    docs = documents(figures(quality(ingest())))
    docs >> approval >> send()


renovation_supervision_monthly()
