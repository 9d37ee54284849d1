"""One data month's findings, as the DAG ``renovation_spot_check_findings`` runs them:
:func:`process` (read, compare, store, write ``<output>/<M>/spot_checks/``, render the bulletin)
→ steward approval → :func:`send` (the bulletin, once per recipient, through the ledger).

Nothing is written or sent when the findings file is refused; a rerun replaces the month's
findings and writes the same bytes. The month's published files (ranking, bulletins, manifest)
are never touched: ``spot_checks/`` has a manifest of its own.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, text

from .. import delivery, outputs, spot_check
from .. import warehouse as wh
from ..config import programme_for_month
from ..documents import PdfWriter
from ..errors import InputFileError
from ..landing import recipients_file
from ..months import Month, date_zh
from ..settings import RunSettings
from ..tables import Col, Sheet, write_table_csv, write_xlsx
from . import (CONCLUSION_LABELS, CONCLUSIONS, DOCUMENT, FALSIFIED, INVESTMENT_OVERSTATED,
               NOT_CHECKED, STATUS_FALSIFIED, CONSISTENT)
from . import bulletin as fb
from .compare import compare, tolerance
from .reader import FOLDER, findings_file, findings_files, read_findings

log = logging.getLogger(__name__)

SIGNAL_RULES = {"STATUS_BACKWARDS": "改造状态较上月倒退", "INVEST_BACKWARDS": "累计完成投资较上月减少"}

FINDINGS_COLUMNS = [
    Col("项目编号", "project_id", "text", 16), Col("市州", "city", "text", 12),
    Col("所在县市区", "county", "text", 14), Col("小区名称", "name", "text", 24),
    Col("报送改造状态", "reported_status", "text", 10), Col("核实改造状态", "verified_status", "text", 10),
    Col("报送累计完成投资", "reported_invest_yuan", "money", 12),
    Col("核实累计完成投资", "verified_invest_yuan", "money", 12),
    Col("结论", "conclusion", "text", 22), Col("结论说明", "conclusion_label", "text", 16),
    Col("核查人", "inspector", "text", 9), Col("核查日期", "checked_on", "text", 11),
    Col("核实结论", "verified_note", "text", 24), Col("抽取序号", "draw", "int", 6),
    Col("实施责任人", "impl_officer", "text", 9), Col("监管责任人", "sup_officer", "text", 9),
    Col("质量检查信号", "signals", "text", 30), Col("核实表行号", "source_row", "int", 8),
]


def output_dir(s: RunSettings) -> Path:
    return outputs.month_dir(s.output_dir, s.month) / FOLDER


# --------------------------------------------------------------------------- what a month holds

def _month_was_run(engine: Engine, s: RunSettings, path: Path) -> None:
    """Refuse findings of a month that was never run (no published folder, no sample)."""
    month_folder = outputs.month_dir(s.output_dir, s.month)
    load = wh.read_month(engine, "month_loads", s.month)
    sampled = wh.frame(engine, "SELECT COUNT(*) AS n FROM spot_checks WHERE report_month = :m",
                       m=s.month).n.iloc[0]
    missing = []
    if load.empty or load.kind.iloc[0] != "full":
        missing.append("no run of the month in the warehouse")
    elif not sampled:
        missing.append("no spot-check sample in the warehouse")
    if not (month_folder / "manifest.json").is_file():
        missing.append(f"no published month folder {month_folder}")
    if missing:
        raise InputFileError(path, f"data month {s.month} was never run ({'; '.join(missing)}): "
                                   f"run the month first (make run MONTH={s.month})")


def signals(engine: Engine, month: str, project_ids: set[str]) -> dict[str, str]:
    """The quality stage's falsification signals (backwards movement) of the month, per 项目编号."""
    rows = wh.frame(engine, "SELECT project_id, rule_id, value FROM quality_findings "
                            "WHERE report_month = :m AND rule_id IN ('STATUS_BACKWARDS', "
                            "'INVEST_BACKWARDS') ORDER BY seq", m=month)
    out: dict[str, list[str]] = {}
    for r in rows.to_dict("records"):
        if r["project_id"] in project_ids:
            out.setdefault(r["project_id"], []).append(f"{SIGNAL_RULES[r['rule_id']]}（{r['value']}）")
    return {k: "；".join(v) for k, v in out.items()}


def city_counts(findings: pd.DataFrame) -> list[dict[str, Any]]:
    """Per city (administrative order): sampled, checked and each 结论."""
    out = []
    for city, group in findings.sort_values("city_order").groupby("city", sort=False):
        counts = group.conclusion.value_counts()
        out.append({"city": city, "sampled": len(group),
                    "checked": int(len(group) - counts.get(NOT_CHECKED, 0)),
                    **{c: int(counts.get(c, 0)) for c in CONCLUSIONS}})
    return out


def findings_note(s: RunSettings, findings: pd.DataFrame, bulletin: bool, issued: str | None) -> str:
    """The steward's findings note (Markdown): counts per city, the falsified records, what
    approval sends."""
    label = s.report_month.label_zh()
    lines = [f"# {label}现场抽查核实结果", "",
             "| 市州 | 抽查 | 已核查 | 一致 | 改造状态不实 | 完成投资虚报 | 未核查 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    rows = city_counts(findings)
    for r in rows:
        lines.append(f"| {r['city']} | {r['sampled']} | {r['checked']} | {r[CONSISTENT]} | "
                     f"{r[STATUS_FALSIFIED]} | {r[INVESTMENT_OVERSTATED]} | {r[NOT_CHECKED]} |")
    total = {k: sum(r[k] for r in rows) for k in ("sampled", "checked", *CONCLUSIONS)}
    lines.append(f"| 合计 | {total['sampled']} | {total['checked']} | {total[CONSISTENT]} | "
                 f"{total[STATUS_FALSIFIED]} | {total[INVESTMENT_OVERSTATED]} | {total[NOT_CHECKED]} |")
    lines.append("")
    falsified = findings[findings.conclusion.isin(FALSIFIED)]
    if bulletin:
        lines += [f"弄虚作假 {len(falsified)} 个：" + "、".join(
            f"{r.city}{r.name}（{CONCLUSION_LABELS[r.conclusion]}）" for r in falsified.itertuples()),
            "",
            f"批准后，《{''.join(fb.title_lines(fb.falsified_cities(findings)))}》（成文日期 {issued}）"
            "将发送至各市州住房和城乡建设、发展改革、财政部门，抄送各市州人民政府；驳回或逾期未处理则不发送。",
            "", f"- 通报：{s.month_url(f'{FOLDER}/falsification_bulletin.pdf')}"]
    else:
        lines.append("未发现弄虚作假，不印发通报，无需发送。")
    lines.append(f"- 核实结果：{s.month_url(f'{FOLDER}/findings.xlsx')}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the stage

def process(s: RunSettings) -> dict[str, Any]:
    """Read the month's findings file, compare, store, write ``<M>/spot_checks/`` (findings.csv
    and .xlsx, findings_note.md, the bulletin when any record is falsified, manifest.json)."""
    month = s.report_month
    programme = programme_for_month(month)
    path = findings_file(s.inputs_dir, month)
    engine = wh.connect(s.warehouse_url)
    _month_was_run(engine, s, path)
    with engine.connect() as conn:
        sample = spot_check.read_spot_checks(conn, programme, month)
    found = read_findings(path, month, set(sample.project_id))
    result = compare(sample, found, tolerance(programme),
                     signals(engine, s.month, set(sample.project_id)))
    falsified = result[result.conclusion.isin(FALSIFIED)]
    staging = outputs.month_dir(s.output_dir, s.month) / f".{FOLDER}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    label = month.label_zh()
    shown = result.assign(conclusion_label=result.conclusion.map(CONCLUSION_LABELS))
    write_table_csv(staging / "findings.csv", FINDINGS_COLUMNS, shown)
    write_xlsx(staging / "findings.xlsx", [Sheet(
        "核实结果", f"{label}城镇老旧小区改造现场抽查核实结果", FINDINGS_COLUMNS, shown,
        f"核实表：{path.name}", ["注：结论 CONSISTENT 与报送一致；STATUS_FALSIFIED 改造状态不实；"
                                "INVESTMENT_OVERSTATED 完成投资虚报；NOT_CHECKED 未核查。"])])
    issued = None
    if len(falsified):
        issued_on = fb.issue_date(result[result.conclusion != NOT_CHECKED])
        issued = issued_on.isoformat()
        html = fb.render(programme, month, result)
        (staging / "falsification_bulletin.html").write_text(html, encoding="utf-8")
        PdfWriter().write(html, staging / "falsification_bulletin.pdf")
    (staging / "findings_note.md").write_text(findings_note(s, result, bool(len(falsified)), issued),
                                              encoding="utf-8")
    load = wh.read_month(engine, "month_loads", s.month).iloc[0]
    file_sha = outputs.sha256_file(path)
    outputs.write_manifest(staging, {"report_month": s.month, "findings_file": path.name,
                                     "findings_sha256": file_sha,
                                     "snapshot_sha256": load.snapshot_sha256})
    cities = fb.falsified_cities(result)
    with engine.begin() as conn:
        wh.replace_month(conn, "spot_check_findings", s.month, result.assign(report_month=s.month))
        conn.execute(text("DELETE FROM spot_check_findings_loads WHERE report_month = :m"), {"m": s.month})
        wh.insert(conn, "spot_check_findings_loads", [{
            "report_month": s.month, "findings_file": path.name, "findings_sha256": file_sha,
            "snapshot_sha256": load.snapshot_sha256, "sampled": len(result),
            "checked": int((result.conclusion != NOT_CHECKED).sum()), "falsified": len(falsified),
            "bulletin_issued_on": issued, "bulletin_cities": "、".join(cities) or None}])
    target = output_dir(s)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    # the month's manifest names the findings' files too (its other entries are unchanged)
    outputs.attach_to_manifest(target.parent, FOLDER)
    counts = result.conclusion.value_counts()
    summary = {"report_month": s.month, "findings_file": path.name, "sampled": len(result),
               **{c: int(counts.get(c, 0)) for c in CONCLUSIONS},
               "bulletin": bool(len(falsified)), "bulletin_issued_on": issued, "cities": cities,
               "folder": str(target)}
    log.info("findings %s: %s", s.month, summary)
    return summary


def note(s: RunSettings) -> str:
    """The steward's findings note of the month (written by :func:`process`)."""
    return (output_dir(s) / "findings_note.md").read_text(encoding="utf-8")


def has_bulletin(s: RunSettings) -> bool:
    return (output_dir(s) / "falsification_bulletin.pdf").is_file()


# --------------------------------------------------------------------------- sending

def outgoing_messages(s: RunSettings, recipients: list[delivery.Recipient]) -> list[delivery.Outgoing]:
    """The bulletin to every city: its three departments (主送), 抄送 its government."""
    programme = programme_for_month(s.report_month)
    pdf = output_dir(s) / "falsification_bulletin.pdf"
    issuer = programme.documents.get("issuer", "")
    folder_cities = wh.read_month(wh.connect(s.warehouse_url), "spot_check_findings_loads", s.month)
    named = str(folder_cities.bulletin_cities.iloc[0]).split("、")
    title = "".join(fb.title_lines(named))
    messages = []
    for c in programme.province.cities:
        rs = [r for r in recipients if r.city == c.name]
        concerned = c.name in named
        messages.append(delivery.Outgoing(
            document=DOCUMENT, city=c.name, city_code=c.code, subject=title,
            body=f"{c.name}：\n\n现将《{title}》印发给你们，"
                 + ("请对通报的问题小区立即整改，并按期书面报送整改情况。" if concerned
                    else "请举一反三，对本地区报送信息开展自查，确保信息真实准确。")
                 + f"\n\n{issuer}\n",
            to=[r for r in rs if r.role == delivery.MAIN], cc=[r for r in rs if r.role == delivery.CC],
            attachments=[pdf]))
    return messages


def send(s: RunSettings, transport: delivery.Transport | None = None,
         sender: str | None = None) -> dict[str, Any]:
    """Deliver the approved bulletin, once per recipient (the ledger, document
    ``falsification_bulletin``); nothing when the month has none or sending is off."""
    if not s.send:
        log.info("findings send %s: sending is off for this run; nothing sent", s.month)
        return {"report_month": s.month, "sent": False, "reason": "send disabled for this run"}
    if not has_bulletin(s):
        log.info("findings send %s: no falsified record, no bulletin; nothing sent", s.month)
        return {"report_month": s.month, "sent": False, "reason": "no falsification bulletin"}
    programme = programme_for_month(s.report_month)
    path = recipients_file(s.inputs_dir)
    recipients = delivery.read_recipients(path)
    delivery.check_recipients(path, recipients, programme.province.city_names)
    messages = outgoing_messages(s, recipients)
    if transport is None:
        if s.delivery != "outbox":
            raise delivery.DeliveryDataError(
                f"SUPERVISION_DELIVERY={s.delivery} but no SMTP transport was given")
        transport = delivery.OutboxTransport(s.outbox_dir / s.month)
    report = delivery.deliver(wh.connect(s.warehouse_url), s.month, messages, transport,
                              sender or s.sender)
    incomplete = report.incomplete(s.month)
    if incomplete is not None:
        log.error("findings send %s: %s", s.month, incomplete)
        raise incomplete
    return {"report_month": s.month, "sent": True, **report.as_dict()}


# --------------------------------------------------------------------------- landing

def pending_months(inputs_dir: Path, warehouse_url: str | None = None) -> list[str]:
    """Months whose findings file in ``inputs_dir`` is new or changed since it was last
    processed (its SHA-256 against ``spot_check_findings_loads``)."""
    engine = wh.connect(warehouse_url)
    done = {r["report_month"]: r["findings_sha256"]
            for r in wh.frame(engine, "SELECT report_month, findings_sha256 FROM "
                                      "spot_check_findings_loads").to_dict("records")}
    return [m for m, p in sorted(findings_files(inputs_dir).items())
            if done.get(m) != outputs.sha256_file(p)]


# --------------------------------------------------------------------------- the next 月度通报

def circulated_before(engine: Engine, month: Month, published, previous_published) -> list[dict[str, Any]]:
    """Falsification bulletins issued after the previous 月度通报 and on or before this one's
    publication day: what the 月度通报 of ``month`` mentions."""
    rows = wh.frame(engine, "SELECT report_month, bulletin_issued_on, bulletin_cities FROM "
                            "spot_check_findings_loads WHERE bulletin_issued_on IS NOT NULL "
                            "ORDER BY bulletin_issued_on, report_month")
    out = []
    for r in rows.to_dict("records"):
        day = pd.Timestamp(r["bulletin_issued_on"]).date()
        if previous_published < day <= published:
            m = Month.parse(r["report_month"])
            cities = str(r["bulletin_cities"]).split("、")
            out.append({"month_zh": m.label_zh(), "issued_zh": date_zh(day), "cities": cities,
                        "title": "".join(fb.title_lines(cities))})
    return out
