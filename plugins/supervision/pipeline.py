"""The stages of one month, as the DAG runs them: ingest → quality → figures → documents →
(steward approval) → send. Each stage is a plain function of :class:`RunSettings` that returns a
small JSON-able summary (what the DAG passes on as XCom); the data itself moves through files
and the warehouse.
"""
from __future__ import annotations

import json
import logging
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, text

from . import delivery, documents, figures, outputs, quality, tables
from . import quality_report as qr
from . import warehouse as wh
from .config import Programme, programme_for_month
from .ingest import Export, load_export, load_plan, load_targets
from .landing import Snapshot, plan_file, previous_snapshot_for, recipients_file, snapshot_for, targets_file
from .months import Month
from .settings import RunSettings
from .workdays import publication_date

log = logging.getLogger(__name__)

WORK = ".work"


def work_dir(s: RunSettings) -> Path:
    return s.output_dir / WORK / s.month


# --------------------------------------------------------------------------- ingest

def _snapshot_meta(export: Export) -> dict[str, Any]:
    return {"name": export.snapshot.name, "date": export.snapshot.taken_on.isoformat(),
            "sha256": export.sha256}


def ingest(s: RunSettings) -> dict[str, Any]:
    """Read the month's snapshot, the plan registry and the targets; stage them for quality.
    File-level problems raise here, before anything is written."""
    month = s.report_month
    programme = programme_for_month(month)
    snapshot = snapshot_for(s.inputs_dir, month)
    targets = load_targets(targets_file(s.inputs_dir, programme.year), programme.province)
    plan = load_plan(plan_file(s.inputs_dir, programme.year), programme.province,
                     list(targets.frame.city))
    export = load_export(snapshot, programme.province, list(targets.frame.city))
    work = work_dir(s)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    targets.frame.to_parquet(work / "targets.parquet", index=False)
    plan.frame.to_parquet(work / "plan.parquet", index=False)
    export.frame.to_parquet(work / "export.parquet", index=False)
    meta = {
        "report_month": s.month,
        "programme_year": programme.year,
        "snapshot": _snapshot_meta(export),
        "plan": {"name": plan.table.path.name, "sha256": plan.sha256},
        "targets": {"name": targets.table.path.name, "sha256": targets.sha256},
        "export_table": export.meta(),
        "plan_table": plan.meta(),
        "rows_read": export.table.rows_read,
    }
    (work / "landing.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
    log.info("ingest %s: %s, %d rows read (header on row %d), %d plan communities",
             s.month, snapshot.name, export.table.rows_read, export.table.header_row, len(plan.frame))
    return {"report_month": s.month, "snapshot": snapshot.name, "rows_read": export.table.rows_read,
            "plan_communities": len(plan.frame)}


def _staged(s: RunSettings) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    work = work_dir(s)
    if not (work / "landing.json").exists():
        raise FileNotFoundError(f"{work}: nothing staged; run the ingest stage of {s.month} first")
    meta = json.loads((work / "landing.json").read_text("utf-8"))
    return (meta, pd.read_parquet(work / "targets.parquet"), pd.read_parquet(work / "plan.parquet"),
            pd.read_parquet(work / "export.parquet"))


# --------------------------------------------------------------------------- quality + load

def _load_month(conn: Connection, programme: Programme, month: Month, kind: str,
                targets: pd.DataFrame, plan: pd.DataFrame, export: pd.DataFrame,
                result: quality.QualityResult, quarantine: pd.DataFrame,
                meta: dict[str, Any]) -> None:
    """Replace the month's rows (and the year's targets and plan) in one transaction."""
    m = str(month)
    wh.replace_year(conn, "targets", programme.year, targets.assign(programme_year=programme.year))
    wh.replace_year(conn, "plan_communities", programme.year,
                    plan.assign(programme_year=programme.year))
    mismatch = result.findings[result.findings.rule_id == "PLAN_MISMATCH"].groupby(
        "source_row")["field"].agg(lambda s: "、".join(dict.fromkeys(s)))
    records = export.drop(columns=["raw"]).assign(
        report_month=m, is_valid=result.valid.values,
        plan_mismatch=export.source_row.map(mismatch))
    wh.replace_month(conn, "monthly_records", m, records)
    findings = result.findings.assign(report_month=m, seq=range(1, len(result.findings) + 1))
    wh.replace_month(conn, "quality_findings", m, findings)
    wh.replace_month(conn, "quarantine", m, quarantine.assign(report_month=m))
    conn.execute(text("DELETE FROM month_loads WHERE report_month = :m"), {"m": m})
    wh.insert(conn, "month_loads", [{
        "report_month": m, "programme_year": programme.year, "kind": kind,
        "snapshot_file": meta["snapshot"]["name"], "snapshot_date": meta["snapshot"]["date"],
        "snapshot_sha256": meta["snapshot"]["sha256"], "plan_sha256": meta["plan"]["sha256"],
        "targets_sha256": meta["targets"]["sha256"], "rows_read": result.rows_read,
        "rows_accepted": result.rows_accepted, "rows_quarantined": result.rows_quarantined}])


def _current_load(engine: Engine, month: Month) -> dict[str, Any] | None:
    rows = wh.read_month(engine, "month_loads", str(month))
    return None if rows.empty else rows.iloc[0].to_dict()


def reference_month(engine: Engine, s: RunSettings, programme: Programme,
                    month: Month) -> pd.DataFrame | None:
    """The records of ``month`` (the month before a run's month) as its own run would load them.

    When the warehouse already holds that month from the same snapshot, plan and targets, they
    are used as they are; otherwise the month is loaded from the landing area (kind
    'reference') and its figures computed. So a month's 较上月 and backwards checks depend only
    on the landing area, never on which months happened to run before."""
    if not programme.covers(month):
        return None
    snapshot = previous_snapshot_for(s.inputs_dir, month.next())
    if snapshot is None:
        return None
    targets = load_targets(targets_file(s.inputs_dir, programme.year), programme.province)
    plan = load_plan(plan_file(s.inputs_dir, programme.year), programme.province,
                     list(targets.frame.city))
    current = _current_load(engine, month)
    from .landing import sha256_of  # noqa: PLC0415
    if (current and current["snapshot_sha256"] == sha256_of(snapshot.path)
            and current["plan_sha256"] == plan.sha256 and current["targets_sha256"] == targets.sha256):
        return wh.read_month(engine, "monthly_records", str(month))
    log.info("loading %s from %s as the previous month", month, snapshot.name)
    export = load_export(snapshot, programme.province, list(targets.frame.city))
    result = quality.evaluate(export.frame, plan.frame, targets.frame, snapshot.taken_on,
                              previous=None, suite_name=f"monthly_export_{month}",
                              file_findings=quality.summary_findings(export.meta())
                              + quality.summary_findings(plan.meta()))
    quarantine = quality.quarantine_frame(export.frame, result)
    meta = {"snapshot": _snapshot_meta(export), "plan": {"sha256": plan.sha256},
            "targets": {"sha256": targets.sha256}}
    with engine.begin() as conn:
        _load_month(conn, programme, month, "reference", targets.frame, plan.frame, export.frame,
                    result, quarantine, meta)
        figures.compute_city_figures(conn, programme, month)
        figures.compute_overdue(conn, programme, month)
    return wh.read_month(engine, "monthly_records", str(month))


def _previous_summary(engine: Engine, month: Month) -> dict[str, Any] | None:
    """Last month's rule counts and quarantined rows per city, for the quality report."""
    if _current_load(engine, month) is None:
        return None
    return qr.month_summary(wh.read_month(engine, "quality_findings", str(month)),
                            wh.read_month(engine, "monthly_records", str(month)))


def check_quality(s: RunSettings) -> dict[str, Any]:
    """Run the quality rules, load the month into the warehouse, write the quality report."""
    meta, targets, plan, export = _staged(s)
    month = s.report_month
    programme = programme_for_month(month)
    engine = wh.connect(s.warehouse_url)
    previous = reference_month(engine, s, programme, month.previous())
    snapshot_date = date.fromisoformat(meta["snapshot"]["date"])
    result = quality.evaluate(export, plan, targets, snapshot_date, previous,
                              suite_name=f"monthly_export_{month}",
                              file_findings=quality.summary_findings(meta["export_table"])
                              + quality.summary_findings(meta.get("plan_table")))
    book = quality.load_rules()
    quarantine = quality.quarantine_frame(export, result, book)
    with engine.begin() as conn:
        _load_month(conn, programme, month, "full", targets, plan, export, result, quarantine, meta)
    staging = outputs.fresh_staging(s.output_dir, s.month)
    qr.write_report(staging, month, export, plan, result, quarantine, book,
                    list(targets.city), meta["export_table"], meta.get("plan_table"),
                    {**meta["snapshot"], "date": snapshot_date},
                    _previous_summary(engine, month.previous()))
    summary = {"report_month": s.month, "rows_read": result.rows_read,
               "rows_accepted": result.rows_accepted,
               "rows_quarantined": result.rows_quarantined,
               "findings": len(result.findings)}
    log.info("quality %s: %s", s.month, summary)
    return summary


# --------------------------------------------------------------------------- figures

def compute_figures(s: RunSettings) -> dict[str, Any]:
    month = s.report_month
    programme = programme_for_month(month)
    engine = wh.connect(s.warehouse_url)
    with engine.begin() as conn:
        city = figures.compute_city_figures(conn, programme, month)
        overdue = figures.compute_overdue(conn, programme, month)
    staging = outputs.staging_dir(s.output_dir, s.month)
    title = f"{month.label_zh()}各市州城镇老旧小区改造工作进展情况排名"
    tables.write_ranking_csv(staging / "ranking.csv", city)
    tables.write_ranking_xlsx(staging / "ranking.xlsx", city, title)
    tables.write_overdue_csv(staging / "overdue.csv", overdue)
    tables.write_overdue_xlsx(staging / "overdue.xlsx", overdue,
                              f"{month.label_zh()}城镇老旧小区改造逾期及问题小区清单")
    lagging = [c for c, lag in zip(city.city, city.lagging) if lag]
    return {"report_month": s.month, "cities": int((city.city != figures.PROVINCE_ROW).sum()),
            "overdue_items": len(overdue), "lagging": lagging}


# --------------------------------------------------------------------------- documents

NOTICE_ITEMS_SQL = "documents/notice_items"


def render_documents(s: RunSettings) -> dict[str, Any]:
    """Render the bulletin and the notices (HTML + PDF), write the manifest, publish the month."""
    month = s.report_month
    programme = programme_for_month(month)
    engine = wh.connect(s.warehouse_url)
    city = figures.read_city_figures(engine, month)
    items = wh.query(engine, NOTICE_ITEMS_SQL, report_month=s.month,
                     programme_year=programme.year)
    load = _current_load(engine, month)
    snapshot = {"name": load["snapshot_file"], "date": date.fromisoformat(load["snapshot_date"])}
    published = publication_date(month, int(programme.schedule.get("day_of_month", 2)))
    staging = outputs.staging_dir(s.output_dir, s.month)
    written = []
    html = documents.monthly_bulletin(programme, month, city, snapshot, published)
    (staging / "monthly_bulletin.html").write_text(html, encoding="utf-8")
    documents.html_to_pdf(html, staging / "monthly_bulletin.pdf")
    written.append("monthly_bulletin")
    notices = staging / "notices"
    for name in documents.notice_cities(city, items):
        code = programme.province.city(name).code
        row = city[city.city == name].iloc[0]
        html = documents.supervision_notice(programme, month, row, items[items.city == name],
                                            snapshot, published)
        notices.mkdir(exist_ok=True)
        (notices / f"{code}.html").write_text(html, encoding="utf-8")
        documents.html_to_pdf(html, notices / f"{code}.pdf")
        written.append(f"notice:{code}")
    outputs.write_manifest(staging, {
        "report_month": s.month,
        "snapshot": {"name": load["snapshot_file"], "date": load["snapshot_date"],
                     "sha256": load["snapshot_sha256"]},
        "plan_sha256": load["plan_sha256"], "targets_sha256": load["targets_sha256"],
        "published_on": published.isoformat(),
    })
    target = outputs.publish(s.output_dir, s.month)
    shutil.rmtree(work_dir(s), ignore_errors=True)
    log.info("documents %s: %d rendered, published to %s", s.month, len(written), target)
    return {"report_month": s.month, "documents": written, "folder": str(target),
            "published_on": published.isoformat()}


# --------------------------------------------------------------------------- send

def outgoing_messages(s: RunSettings, programme: Programme,
                      recipients: list[delivery.Recipient]) -> list[delivery.Outgoing]:
    folder = outputs.month_dir(s.output_dir, s.month)
    label = s.report_month.label_zh()
    by_city: dict[str, list[delivery.Recipient]] = {}
    for r in recipients:
        by_city.setdefault(r.city, []).append(r)
    messages = []
    for c in programme.province.cities:
        rs = by_city.get(c.name, [])
        to = [r for r in rs if r.role == delivery.MAIN]
        cc = [r for r in rs if r.role == delivery.CC]
        if not rs:
            continue
        messages.append(delivery.Outgoing(
            document="monthly_bulletin", city=c.name,
            subject=f"关于{label}全省城镇老旧小区改造工作进展情况的通报",
            body=f"{c.name}：\n\n现将{label}全省城镇老旧小区改造工作进展情况通报印发给你们，"
                 f"排名表见附件。\n\n{programme.documents.get('issuer', '')}\n",
            to=to, cc=cc,
            attachments=[folder / "monthly_bulletin.pdf", folder / "ranking.xlsx"]))
        notice = folder / "notices" / f"{c.code}.pdf"
        if notice.exists():
            messages.append(delivery.Outgoing(
                document=f"notice:{c.code}", city=c.name,
                subject=f"关于督促加快{c.name}城镇老旧小区改造工作的通知",
                body=f"{c.name}：\n\n{label}城镇老旧小区改造督办通知见附件，请按要求整改并报送整改情况。"
                     f"\n\n{programme.documents.get('issuer', '')}\n",
                to=to, cc=cc, attachments=[notice]))
    return messages


def send(s: RunSettings, transport: delivery.Transport | None = None) -> dict[str, Any]:
    """Deliver the approved month's documents; with ``send`` off, deliver nothing."""
    if not s.send:
        log.info("send %s: sending is off for this run (backfill or send=false); nothing sent", s.month)
        return {"report_month": s.month, "sent": False, "reason": "send disabled for this run"}
    programme = programme_for_month(s.report_month)
    recipients = delivery.read_recipients(recipients_file(s.inputs_dir))
    messages = outgoing_messages(s, programme, recipients)
    engine = wh.connect(s.warehouse_url)
    transport = transport or delivery.OutboxTransport(s.outbox_dir / s.month)
    counts = delivery.deliver(engine, s.month, messages, transport, s.sender)
    return {"report_month": s.month, "sent": True, "channel": transport.channel, **counts}


def run_month(s: RunSettings, approve: bool = True) -> dict[str, Any]:
    """Every stage in order, without Airflow (tests, benchmarks)."""
    out = {"ingest": ingest(s), "quality": check_quality(s), "figures": compute_figures(s),
           "documents": render_documents(s)}
    if approve:
        out["send"] = send(s)
    return out
