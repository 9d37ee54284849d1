"""The correction's files: ``corrections/changes.csv``, the erratum (关于更正……的通知, HTML + PDF,
GB/T 9704 like the other documents) and ``corrections/meta.json`` (what the send stage and the
approval request read)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .. import documents, outputs
from ..config import Programme
from ..months import Month, date_zh
from ..tables import RANKING_COLUMNS
from .compare import CHANGES_HEADER, NOTICES, OVERDUE, RANKING, Comparison
from .layout import CHANGES_CSV, ERRATUM, META, read_meta  # noqa: F401 - er.read_meta

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
_KIND = {c.header: c.kind for c in RANKING_COLUMNS}
_NUMBER = re.compile(r'<div class="doc-number">([^<]*)</div>')
_TITLE = re.compile(r"<title>([^<]*)</title>")
#: the sent documents the erratum names, in this order (file stem -> how the text calls it)
NAMED = {"monthly_bulletin": "月度通报", "mid_year_bulletin": "年中通报",
         "year_end_bulletin": "年底通报"}


def shown(column: str, value: str) -> str:
    """A value of ranking.csv as the erratum prints it (rates as percentages, 2 decimals)."""
    if value in ("", None):
        return "—"
    kind = _KIND.get(column)
    try:
        if kind == "rate":
            return f"{float(value) * 100:.2f}%"
        if kind == "pp":
            return f"{float(value):+.2f}"
        if kind == "money":
            return f"{float(value):,.2f}"
    except ValueError:
        return value
    return value


@dataclass(frozen=True)
class SentDocument:
    stem: str          # monthly_bulletin | notices/<code>
    title: str
    number: str


def sent_documents(folder: Path) -> list[SentDocument]:
    """Titles and 发文字号 of the documents of a sent version, read from their HTML."""
    out = []
    paths = [folder / f"{s}.html" for s in NAMED] + sorted((folder / "notices").glob("*.html"))
    for p in paths:
        if p.is_file():
            html = p.read_text("utf-8")
            title, number = _TITLE.search(html), _NUMBER.search(html)
            out.append(SentDocument(p.relative_to(folder).with_suffix("").as_posix(),
                                    title.group(1) if title else p.stem,
                                    number.group(1) if number else ""))
    return out


def _inputs(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    return json.loads(path.read_text("utf-8")).get("inputs", {}) if path.is_file() else {}


def erratum_context(programme: Programme, month: Month, cmp: Comparison, version: int,
                    old: Path, new_snapshot: dict[str, Any], drafted_at: str,
                    sent_day: str | None) -> dict[str, Any]:
    d = programme.documents
    cfg = dict(d.get("erratum") or {})
    drafted = datetime.fromisoformat(drafted_at).astimezone(LOCAL_TZ).date()
    label = month.label_zh()
    number_cfg = cfg.get("number") or {"prefix": d.get("doc_number_prefix", ""), "first": 300}
    per_month = int(cfg.get("numbers_per_month", 10))
    doc = documents.DocHeader(
        title_lines=(f"关于更正{label}全省城镇老旧小区改造", "工作进展情况通报等文件的通知"),
        number=documents.NumberRule.of(number_cfg, d.get("doc_number_prefix", "")).number(
            drafted.year, month, programme.month_index(month), per_month, version - 2),
        issuers=tuple(cfg.get("issuers") or d.get("organs") or [d.get("issuer", "")]),
        recipients=cfg.get("recipients", d.get("city_recipients", "各市州")),
        issued_on=drafted, printed_by=d.get("printed_by", ""),
        cc=tuple(cfg.get("cc", [d.get("city_governments", "各市州人民政府")])),
        attachments=("更正数据明细表",))
    sent = {s.stem: s for s in sent_documents(old)}
    names = {c.name: c.code for c in programme.province.cities}
    ranking = [c for c in cmp.changes if c.file == RANKING]
    headline = {}
    for c in ranking:
        if c.item in ("综合得分", "排名"):
            headline.setdefault(c.city, {})[c.item] = (shown(c.item, c.old), shown(c.item, c.new))
    def value(c, v: str) -> str:
        if c.file == RANKING:
            return shown(c.item, v)
        if c.file.startswith("notices/"):   # officers and phones go only to their own city
            return "见更正后的督办通知"
        return v
    rows = [{"file": {RANKING: "排名表", OVERDUE: "逾期及问题小区清单", NOTICES: "督办通知"}.get(
                 c.file, "督办通知所附清单"),
             "city": c.city, "item": c.item, "old": value(c, c.old), "new": value(c, c.new)}
            for c in cmp.changes]
    old_snap, new_snap = _inputs(old).get("snapshot", {}), new_snapshot
    return {
        "doc": doc, "month_zh": label, "version": version, "against": cmp.against,
        "sent_day_zh": date_zh(date.fromisoformat(sent_day)) if sent_day else "",
        # the 成文日期 of the documents being corrected
        "issued_zh": date_zh(date.fromisoformat(_inputs(old)["published_on"]))
                     if _inputs(old).get("published_on") else "",
        "documents": [sent[s] for s in NAMED if s in sent],
        "old_snapshot": old_snap, "new_snapshot": new_snap,
        "same_snapshot_name": old_snap.get("name") == new_snap.get("name"),
        "system_name": documents._system(programme),
        "count": len(cmp.changes), "ranking_count": len(ranking),
        "overdue_removed": [c for c in cmp.changes if c.file == OVERDUE and c.new == "不列入清单"],
        "overdue_added": [c for c in cmp.changes if c.file == OVERDUE and c.old == "不列入清单"],
        "headline": headline,
        "notices_added": cmp.notices_added,
        "notices_removed": [(city, sent.get(f"notices/{names[city]}")) for city in cmp.notices_removed],
        "notices_changed": cmp.notices_changed,
        "rows": rows,
    }


def write_changes(folder: Path, cmp: Comparison) -> Path:
    return outputs.write_csv(Path(folder) / CHANGES_CSV, CHANGES_HEADER, [c.row() for c in cmp.changes])


def write_erratum(folder: Path, context: dict[str, Any],
                  writer: documents.PdfWriter | None = None) -> Path:
    html = documents.render("erratum.html.j2", **context)
    stem = Path(folder) / ERRATUM
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".html").write_text(html, encoding="utf-8")
    return (writer or documents.PdfWriter()).write(html, stem.with_suffix(".pdf"))


def write_meta(folder: Path, meta: dict[str, Any]) -> Path:
    return outputs.write_json(Path(folder) / META, meta)
