"""The published month folders as the Airflow UI plugin shows them (no Airflow here).

* :func:`resolve` maps a requested ``<month>/<path>`` to a file of the output folder, or refuses
  it (:class:`NotServed`): only ``YYYY-MM`` folders, no ``..``, no absolute or backslashed
  paths, no hidden entries (``.staging``, ``.work``), and nothing whose real path (symlinks
  followed) leaves the month folder.
* :func:`index` lists the months with what the warehouse knows of them: the snapshot used, the
  findings by severity, the steward's last decision and the delivery ledger's counts.
* :func:`render_index` / :func:`render_month` are the two HTML pages
  (``include/templates/month_index.html.j2``).
"""
from __future__ import annotations

import json
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from . import paths

log = logging.getLogger(__name__)

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
#: shown in the browser; everything else is a download
INLINE = {".html", ".pdf", ".json", ".png", ".svg", ".txt"}
DECISION_ZH = {"approved": "已批准", "rejected": "已驳回", "timed_out": "逾期未审（默认驳回）",
               "not_required": "无需审批（本次不发送）"}
DELIVERY_ZH = {"sent": "已发送", "failed": "失败", "unknown": "结果未知", "sending": "发送中"}


class NotServed(Exception):
    """A request for something that is not a file of a published month folder."""

    def __init__(self, reason: str, status: int = 404):
        super().__init__(reason)
        self.status = status


def months(output_dir: Path) -> list[str]:
    """The published months (folders named YYYY-MM), newest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir()
                   if MONTH.match(p.name) and p.is_dir() and not p.is_symlink()), reverse=True)


def resolve(output_dir: Path, month: str, relpath: str = "") -> Path:
    """The file (or, for an empty ``relpath``, the folder) of ``month`` that ``relpath`` names;
    :class:`NotServed` for anything else. ``relpath`` is the already-decoded URL path."""
    if not MONTH.match(month or ""):
        raise NotServed(f"not a data month: {month!r}")
    if "\\" in relpath or "\x00" in relpath or relpath.startswith("/"):
        raise NotServed(f"refused path {relpath!r}", 400)
    parts = PurePosixPath(relpath).parts if relpath else ()
    if any(p in ("..", ".") or p.startswith(".") for p in parts):
        raise NotServed(f"refused path {relpath!r}", 400)
    root = (Path(output_dir) / month)
    if not root.is_dir() or root.is_symlink():
        raise NotServed(f"no published month {month}")
    real_root = root.resolve(strict=True)
    target = root.joinpath(*parts)
    try:
        real = target.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotServed(f"{month}/{relpath}: no such file") from None
    if real != real_root and real_root not in real.parents:
        raise NotServed(f"{month}/{relpath}: leaves the month folder", 403)
    if parts and not real.is_file():
        raise NotServed(f"{month}/{relpath}: not a file")
    return real


def media_type(path: Path) -> tuple[str, bool]:
    """(content type, shown inline?) of a month file."""
    suffix = path.suffix.lower()
    kind = {".csv": "text/csv; charset=utf-8", ".json": "application/json",
            ".html": "text/html; charset=utf-8", ".eml": "message/rfc822",
            ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}.get(
        suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return kind, suffix in INLINE


@dataclass
class MonthEntry:
    month: str
    snapshot: str | None = None
    snapshot_date: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    decision: dict[str, Any] | None = None
    deliveries: dict[str, int] = field(default_factory=dict)

    @property
    def decision_zh(self) -> str:
        if not self.decision:
            # a local run (make run) marks the approval as given: no decision is recorded
            return "无审批记录（本地运行）" if self.deliveries else "待审批"
        return DECISION_ZH.get(self.decision["decision"], self.decision["decision"])

    @property
    def deliveries_zh(self) -> str:
        if not self.deliveries:
            return "未发送"
        return "，".join(f"{DELIVERY_ZH.get(k, k)} {v}" for k, v in sorted(self.deliveries.items()))

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "snapshot": self.snapshot, "snapshot_date": self.snapshot_date,
                "rows": self.rows, "findings": self.findings, "decision": self.decision,
                "decision_zh": self.decision_zh, "deliveries": self.deliveries,
                "deliveries_zh": self.deliveries_zh}


def _manifest(output_dir: Path, month: str) -> dict[str, Any]:
    try:
        return json.loads((Path(output_dir) / month / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def index(output_dir: Path, engine=None) -> list[MonthEntry]:
    """Every published month with its snapshot (manifest), and — when the warehouse can be read
    — its rows, findings by severity, last steward decision and delivery counts."""
    entries = {}
    for m in months(output_dir):
        snap = _manifest(output_dir, m).get("inputs", {}).get("snapshot", {})
        entries[m] = MonthEntry(m, snap.get("name"), snap.get("date"))
    if engine is None or not entries:
        return list(entries.values())
    from . import warehouse as wh  # noqa: PLC0415 - pandas and SQLAlchemy only when needed

    try:
        for r in wh.records(wh.query(engine, "month_index/loads")):
            if (e := entries.get(r["report_month"])):
                e.rows = {k: int(r[k]) for k in ("rows_read", "rows_accepted", "rows_quarantined")}
                e.snapshot = e.snapshot or r["snapshot_file"]
        for r in wh.records(wh.query(engine, "month_index/findings")):
            if (e := entries.get(r["report_month"])):
                e.findings[r["severity"]] = int(r["n"])
        for r in wh.records(wh.query(engine, "month_index/approvals")):
            if (e := entries.get(r["report_month"])):
                e.decision = {k: r[k] for k in ("run_id", "decision", "decided_by", "decided_at")}
        for r in wh.records(wh.query(engine, "month_index/deliveries")):
            if (e := entries.get(r["report_month"])):
                e.deliveries[r["status"]] = int(r["n"])
    except Exception as exc:  # noqa: BLE001 - the files are still worth showing
        log.warning("month index: the warehouse could not be read (%s); showing the folders only", exc)
    return list(entries.values())


def files(output_dir: Path, month: str) -> list[dict[str, Any]]:
    """The month's files (relative path, size, inline or download), as the manifest lists them."""
    root = resolve(output_dir, month)
    listed = _manifest(output_dir, month).get("files") or [
        {"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size}
        for p in sorted(root.rglob("*")) if p.is_file()]
    out = []
    for f in listed + [{"path": "manifest.json"}]:
        p = root / f["path"]
        if p.is_file():
            out.append({"path": f["path"], "bytes": p.stat().st_size, "inline": media_type(p)[1]})
    return out


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: PLC0415

    return Environment(loader=FileSystemLoader(str(paths.templates_dir())),
                       autoescape=select_autoescape(["html", "j2"]))


def render_index(entries: list[MonthEntry], base: str) -> str:
    return _env().get_template("month_index.html.j2").render(entries=entries, base=base, month=None)


def render_month(entry: MonthEntry, month_files: list[dict[str, Any]], base: str) -> str:
    return _env().get_template("month_index.html.j2").render(
        entry=entry, files=month_files, base=base, month=entry.month)
