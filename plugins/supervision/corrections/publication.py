"""How the monthly stages use versions: the documents stage compares with the last sent version
and writes the correction; the send stage freezes the version it sends and builds its messages.

documents stage (:func:`prepare`, then :func:`carry`):
  never sent                → nothing (the month is simply replaced)
  identical to the last sent version → nothing new; drafts nobody received are dropped
  different                 → ``corrections/changes.csv``, ``erratum.html/.pdf``, ``meta.json``
                              for version N+1 against the last sent version N
send stage (:func:`plan`, then :func:`finish`):
  no version sent yet       → version 1 frozen, the month's messages (ledger keys as before)
  a correction N+1 rendered → version N+1 frozen, one 更正 message per city to each recipient
                              who received a changed document (erratum + corrected documents,
                              a newly due notice included); keys ``<document>@v<N+1>``
  otherwise                 → the last sent version's messages again: the ledger sends only
                              what has not gone (a retry, or a run that stopped half-way)
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Engine

from .. import delivery, outputs
from .. import warehouse as wh
from ..config import Programme
from ..settings import RunSettings
from . import erratum as er
from . import versions as vs
from .compare import Comparison, compare
from .layout import summary_lines  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

ERRATUM_DOCUMENT = "erratum"


# --------------------------------------------------------------------------- documents stage

def prepare(engine: Engine, s: RunSettings, programme: Programme, staging: Path,
            writer=None, clock: Callable[[], datetime] = vs.now_utc) -> dict[str, Any]:
    """Compare the staged month with its last sent version; write the correction when they
    differ. Returns a summary for the stage's XCom/log."""
    last = vs.last_delivered(engine, s.month)
    if last is None:
        return {"corrected": False, "reason": "never sent"}
    old = vs.version_dir(s.output_dir, s.month, last["version"])
    if not old.is_dir():
        raise vs.VersionError(f"{s.month} version {last['version']} was {last['status']} but its "
                              f"folder {old} is missing; restore it from the backup")
    cmp = compare(old, staging, programme, last["version"])
    if cmp.identical:
        dropped = vs.drop_undelivered(engine, s.output_dir, s.month)
        log.info("corrections %s: identical to version %d as sent; nothing new%s", s.month,
                 last["version"], f" ({dropped} unsent draft(s) dropped)" if dropped else "")
        return {"corrected": False, "reason": f"identical to version {last['version']}"}
    version = last["version"] + 1
    drafted_at = vs.ensure_draft(engine, s.month, version, last["version"], len(cmp.changes), clock)
    sent_day = vs.sent_on(engine, s.month, last["version"]) or (last.get("sent_at") or "")[:10] or None
    load = wh.read_month(engine, "month_loads", s.month)
    snapshot = ({"name": load.iloc[0]["snapshot_file"], "sha256": load.iloc[0]["snapshot_sha256"]}
                if not load.empty else {})
    context = er.erratum_context(programme, s.report_month, cmp, version, old, snapshot,
                                 drafted_at, sent_day)
    er.write_changes(staging, cmp)
    er.write_erratum(staging, context, writer)
    meta = {"version": version, "corrects_version": last["version"], "changes": len(cmp.changes),
            "sent_on": sent_day, "number": context["doc"].number, "title": context["doc"].title,
            "cities": cmp.cities(), "notices_added": cmp.notices_added,
            "notices_removed": cmp.notices_removed, "notices_changed": cmp.notices_changed}
    er.write_meta(staging, meta)
    log.info("corrections %s: %d values changed since version %d was sent on %s; erratum %s "
             "(version %d) written to %s", s.month, len(cmp.changes), last["version"], sent_day,
             meta["number"], version, staging / vs.CORRECTIONS_DIR)
    return {"corrected": True, **{k: meta[k] for k in ("version", "corrects_version", "changes",
                                                          "sent_on", "number")}}


def carry(s: RunSettings, staging: Path) -> int:
    """Keep the sent versions across the replacement of the month folder."""
    return vs.carry_sent(s.output_dir, s.month, staging)


# --------------------------------------------------------------------------- send stage

@dataclass
class Plan:
    version: int
    corrects: int | None
    messages: list[delivery.Outgoing]
    folder: Path
    changes: int = 0
    sent_on: str | None = None
    attachments: list[tuple[str, str, int, str, str]] = field(default_factory=list)

    @property
    def is_correction(self) -> bool:
        return self.version > 1

    @property
    def recipients(self) -> int:
        return len({r.email for m in self.messages for r in m.recipients})

    def summary_line(self) -> str:
        if not self.is_correction:
            return f"version 1 to {self.recipients} recipients"
        return (f"corrected: {self.changes} values changed since sent on {self.sent_on}; "
                f"erratum to {self.recipients} recipients")


def _frozen(msg: delivery.Outgoing, live: Path, frozen: Path) -> delivery.Outgoing:
    return dataclasses.replace(msg, attachments=[frozen / Path(p).relative_to(live) for p in msg.attachments])


def _attachment_rows(messages: list[delivery.Outgoing], folder: Path,
                     version: int) -> list[tuple[str, str, int, str, str]]:
    hashes: dict[Path, str] = {}
    rows = []
    for m in messages:
        for p in m.attachments:
            if p not in hashes:
                hashes[p] = outputs.sha256_file(p) if Path(p).is_file() else ""
            for r in m.recipients:
                rows.append((m.document, r.email, version, Path(p).relative_to(folder).as_posix(),
                             hashes[p]))
    return rows


def _erratum_messages(engine: Engine, s: RunSettings, programme: Programme,
                      month_messages: list[delivery.Outgoing], frozen: Path, version: int,
                      meta: dict[str, Any]) -> list[delivery.Outgoing]:
    """One 更正 message per city (and set of changed documents) to each recipient who holds a
    document of the month that changed, or whose city newly needs a notice."""
    holds = vs.received(engine, s.month, version)
    label = s.report_month.label_zh()
    issuer = programme.documents.get("issuer", "")
    erratum_pdf = frozen / f"{er.ERRATUM}.pdf"
    removed = set(meta.get("notices_removed") or [])
    added = set(meta.get("notices_added") or [])
    out = []
    for c in programme.province.cities:
        msgs = [m for m in month_messages if m.city == c.name]
        files = {Path(p).relative_to(frozen).as_posix(): outputs.sha256_file(p)
                 for m in msgs for p in m.attachments}
        people = {r.email: r for m in msgs for r in m.recipients}
        groups: dict[tuple[str, ...], list[delivery.Recipient]] = {}
        for email, r in people.items():
            old = holds.get(email, {})
            if not old and c.name not in added:
                continue          # never received this month: nothing of it to correct
            changed = tuple(p for p in files if old.get(p) != files[p])
            # a document they hold that this version no longer has (a notice no longer due);
            # an earlier erratum is not withdrawn by a later one
            withdrawn = [p for p in old if p not in files
                         and not p.startswith(vs.CORRECTIONS_DIR + "/")]
            if changed or withdrawn:
                groups.setdefault(changed, []).append(r)
        for changed, rs in groups.items():
            notice_note = ""
            if c.name in removed:
                notice_note = "经更正，你市（州）不再需要督办，原督办通知予以撤销。\n\n"
            elif c.name in added:
                notice_note = "经更正，你市（州）需予督办，督办通知及逾期、问题小区清单见附件，请按要求整改并报送整改情况。\n\n"
            out.append(delivery.Outgoing(
                document=vs.versioned_key(ERRATUM_DOCUMENT, version), city=c.name, city_code=c.code,
                subject=meta.get("title") or f"关于更正{label}城镇老旧小区改造有关文件的通知",
                body=f"{c.name}：\n\n{label}全省城镇老旧小区改造工作进展情况通报等文件所依据的数据有更正，"
                     f"现将《{meta.get('title', '')}》（{meta.get('number', '')}）及更正后的文件印发给你们，"
                     f"原文件中与更正通知不一致的内容作废，请以更正后的文件为准。\n\n{notice_note}{issuer}\n",
                to=[r for r in rs if r.role == delivery.MAIN], cc=[r for r in rs if r.role == delivery.CC],
                attachments=[erratum_pdf] + [frozen / p for p in changed]))
    return out


def plan(engine: Engine, s: RunSettings, programme: Programme,
         month_messages: list[delivery.Outgoing],
         clock: Callable[[], datetime] = vs.now_utc) -> Plan:
    """Which version this send delivers, frozen, with its messages (attachments from the frozen
    folder) and the attachment rows to record in the ledger."""
    live = outputs.month_dir(s.output_dir, s.month)
    last = vs.last_delivered(engine, s.month)
    meta = er.read_meta(live)
    if last is None:
        version, corrects = 1, None
    elif meta and meta["corrects_version"] == last["version"]:
        version, corrects = last["version"] + 1, last["version"]
    elif meta and meta["version"] == last["version"]:
        version, corrects = last["version"], meta["corrects_version"]   # retry of this correction
    elif meta:
        raise delivery.DeliveryDataError(
            f"{s.month}: the correction in {live / vs.CORRECTIONS_DIR} is against version "
            f"{meta['corrects_version']} but version {last['version']} was sent since; rerun the "
            "month's documents stage")
    else:
        version, corrects = last["version"], last["corrects_version"]   # nothing new: resend what did not go
    changes = (meta or {}).get("changes", 0) if version > 1 else 0
    if version == (last or {}).get("version"):
        changes = last["changes"]
    frozen = vs.freeze(engine, s.output_dir, s.month, version, corrects, changes, clock)
    messages = [_frozen(m, live, frozen) for m in month_messages]
    if version > 1:
        frozen_meta = er.read_meta(frozen) or meta or {}
        messages = _erratum_messages(engine, s, programme, messages, frozen, version, frozen_meta)
    sent_on = None
    if corrects:
        sent_on = vs.sent_on(engine, s.month, corrects)
    p = Plan(version, corrects, messages, frozen, changes, sent_on)
    p.attachments = _attachment_rows(messages, frozen, version)
    return p


def start(engine: Engine, s: RunSettings, p: Plan, clock: Callable[[], datetime] = vs.now_utc) -> None:
    """Just before the first message: the version is ``sending`` (never frozen again) and the
    ledger knows every attachment's SHA-256."""
    row = vs.version_row(engine, s.month, p.version)
    if row["status"] not in vs.DELIVERED:
        vs.mark(engine, s.month, p.version, vs.SENDING)
    vs.record_attachments(engine, s.month, p.attachments)


def finish(engine: Engine, s: RunSettings, p: Plan, report: delivery.DeliveryReport,
           clock: Callable[[], datetime] = vs.now_utc) -> dict[str, Any]:
    """Record the version's outcome (sent when everyone was reached) and its summary line."""
    line = p.summary_line()
    complete = report.incomplete(s.month) is None
    row = vs.version_row(engine, s.month, p.version)
    fields = {"recipients": p.recipients, "summary": line}
    if complete and row["status"] != vs.SENT:
        fields["sent_at"] = clock().isoformat(timespec="seconds")
    vs.mark(engine, s.month, p.version, vs.SENT if complete else vs.SENDING, **fields)
    vs.write_index(engine, s.output_dir, s.month)
    log.info("send %s: version %d %s (%s)", s.month, p.version, line,
             "complete" if complete else "incomplete")
    return {"version": p.version, "corrected": p.is_correction, "summary": line,
            "version_recipients": p.recipients}


# --------------------------------------------------------------------------- what people read

def request_lines(s: RunSettings, ui_base_url: str | None = None) -> list[str]:
    """The approval request's lines about a correction (none for a normal month); links as
    :meth:`RunSettings.month_url` makes them (the UI plugin's, given the api-server's URL)."""
    meta = er.read_meta(outputs.month_dir(s.output_dir, s.month))
    if not meta:
        return []
    return [f"- **更正**：本月已于 {meta.get('sent_on') or '?'} 发送（第{meta['corrects_version']}版），"
            f"本次结果有 {meta['changes']} 项数据变化；批准后将向收到变化文件的单位发送更正通知"
            f"（{meta.get('number', '')}）及更正后的文件（第{meta['version']}版）。"
            f"变化明细：[changes.csv]({s.month_url(er.CHANGES_CSV, ui_base_url)})，"
            f"更正通知：[erratum.pdf]({s.month_url(er.ERRATUM + '.pdf', ui_base_url)})"]
