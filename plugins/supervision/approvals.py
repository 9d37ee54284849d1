"""The data steward's decisions on a month's quality report (SPEC §6: nothing reaches a city
before the steward approves).

The decision itself is taken in Airflow (the human-in-the-loop approval task); this module holds
what the decision means and its record in the warehouse (``steward_approvals``), so a rejected or
timed-out month, which sends nothing, still leaves a trace that can be queried.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from sqlalchemy import Engine, text

from .settings import RunSettings, months_index_url

log = logging.getLogger(__name__)

APPROVED, REJECTED, TIMED_OUT, NOT_REQUIRED = "approved", "rejected", "timed_out", "not_required"
DECISIONS = (APPROVED, REJECTED, TIMED_OUT, NOT_REQUIRED)


@dataclass(frozen=True)
class Decision:
    report_month: str
    run_id: str
    decision: str
    decided_by: str | None
    decided_at: str
    quality_report: str | None = None
    note: str | None = None

    @property
    def sends(self) -> bool:
        return self.decision == APPROVED


def from_response(s: RunSettings, run_id: str, chosen: list[str], responded_by: Mapping | None,
                  responded_at: datetime | str | None, timed_out: bool) -> Decision:
    """The decision a human-in-the-loop response stands for: "Approve" -> approved; "Reject" ->
    rejected, or timed_out when nobody answered and the default (reject) applied."""
    if timed_out:
        decision = TIMED_OUT
    elif list(chosen) == ["Approve"]:
        decision = APPROVED
    else:
        decision = REJECTED
    who = None
    if responded_by:
        who = str(responded_by.get("name") or responded_by.get("id") or "") or None
    if isinstance(responded_at, str):
        responded_at = datetime.fromisoformat(responded_at)
    at = (responded_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    note = {TIMED_OUT: "no answer within the response timeout; nothing sent",
            REJECTED: "rejected; nothing sent", APPROVED: "approved; the documents are sent"}[decision]
    return Decision(s.month, run_id, decision, who, at.isoformat(timespec="seconds"),
                    s.month_url("quality_report.html"), note)


def not_required(s: RunSettings, run_id: str, now: datetime | None = None) -> Decision:
    """This run sends nothing (backfill, or ``send: false``): no approval is asked for."""
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return Decision(s.month, run_id, NOT_REQUIRED, None, at.isoformat(timespec="seconds"),
                    s.month_url("quality_report.html"),
                    "this run sends nothing (backfill or send=false): no approval asked")


def record(engine: Engine, d: Decision) -> None:
    if d.decision not in DECISIONS:
        raise ValueError(f"unknown decision {d.decision!r}")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO steward_approvals (report_month, run_id, decision, decided_by, decided_at, "
            "quality_report, note) VALUES (:m, :run, :d, :by, :at, :q, :n)"),
            {"m": d.report_month, "run": d.run_id, "d": d.decision, "by": d.decided_by,
             "at": d.decided_at, "q": d.quality_report, "n": d.note})
    log.info("steward approval %s (%s): %s%s", d.report_month, d.run_id, d.decision,
             f" by {d.decided_by}" if d.decided_by else "")


def decisions(engine: Engine, month: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM steward_approvals WHERE report_month = :m "
                                 "ORDER BY decided_at"), {"m": month})
        return [dict(r._mapping) for r in rows]


def request_text(s: RunSettings, quality: Mapping[str, Any] | None, calendar_warning: str | None,
                 approval_url: str | None, ui_base_url: str | None = None,
                 extra_lines: list[str] | None = None) -> str:
    """The body of the approval request (Markdown, shown in Airflow's Required actions page and
    mailed to the steward), the one place its wording lives.

    With ``ui_base_url`` (the api-server's base URL) the links are absolute http(s) URLs of the
    UI plugin (behind Airflow's login): the quality report, the bulletin and the month index.
    ``extra_lines`` are added after the first paragraph (e.g. "this month is a correction")."""
    report, bulletin = s.month_url("quality_report.html", ui_base_url), s.month_url(
        "monthly_bulletin.pdf", ui_base_url)
    folder = s.month_url("", ui_base_url)
    lines = [f"请阅读 {s.report_month.label_zh()} 的数据质量报告后批准或驳回。",
             "批准后，月度通报和督办通知将发送至各市州；驳回或逾期未处理（默认驳回）则不发送任何文件，并留有记录。"]
    lines += list(extra_lines or [])
    lines += ["",
              f"- 质量报告：[quality_report.html]({report})",
              f"- 月度通报：[monthly_bulletin.pdf]({bulletin})",
              f"- 本月文件夹：[{s.month}]({folder})"]
    if ui_base_url:
        lines.append(f"- 全部数据月：[月份索引]({months_index_url(ui_base_url)})")
    if quality:
        lines.append(f"- 读取 {quality.get('rows_read', '?')} 行，接受 {quality.get('rows_accepted', '?')} 行，"
                     f"隔离 {quality.get('rows_quarantined', '?')} 行")
        if "findings_blocking" in quality:
            lines.append(f"- 问题 {quality.get('findings', '?')} 项：阻断 {quality['findings_blocking']} 项"
                         f"（所在行已隔离），警告 {quality.get('findings_warning', 0)} 项（保留，请核实）")
        else:
            lines.append(f"- 问题 {quality.get('findings', '?')} 项")
    from .corrections import request_lines  # noqa: PLC0415 - a correction says so (issue 15)

    lines += request_lines(s, ui_base_url)
    if approval_url:
        lines.append(f"- 审批页面：[批准或驳回]({approval_url})")
    if calendar_warning:
        lines += ["", f"注意（工作日历）：{calendar_warning}"]
    return "\n".join(lines)


def request_html(text: str, subject: str = "") -> str:
    """The request's Markdown as the HTML part of the steward's mail (links clickable; raw HTML
    in the text is escaped)."""
    from html import escape  # noqa: PLC0415

    from markdown_it import MarkdownIt  # noqa: PLC0415

    body = MarkdownIt("js-default").render(text)
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(subject)}'
            f"</title></head><body>{body}</body></html>\n")
