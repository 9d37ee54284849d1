"""The sent versions of a month: frozen folders ``<M>/sent/v<N>/``, the ``month_versions`` record,
and the attachments (with SHA-256) of each delivery in ``delivery_attachments``.

A version's folder is a copy of the month folder as it was sent (documents, the ranking and
overdue tables and every list behind them, the manifest, for N ≥ 2 the corrections), taken
just before its first message goes out. The month folder itself is replaced whole by every run
(``outputs.publish``); :func:`carry_sent` copies ``sent/`` into the staging folder first, so the
versions survive every rerun. A version that is ``sending`` or ``sent`` is never written again.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import Engine, text

from .. import outputs
from ..errors import SupervisionError
from .layout import CORRECTIONS_DIR, SENT_DIR, VERSIONS_INDEX  # noqa: F401 - vs.CORRECTIONS_DIR

log = logging.getLogger(__name__)

DRAFT, FROZEN, SENDING, SENT = "draft", "frozen", "sending", "sent"
#: a version in one of these states reached (or may have reached) somebody: never rewritten
DELIVERED = (SENDING, SENT)

_VERSION_SUFFIX = re.compile(r"@v(\d+)$")


class VersionError(SupervisionError):
    """A sent version is missing or would be overwritten."""


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- keys and folders

def versioned_key(document: str, version: int) -> str:
    """The ledger key of ``document`` in ``version``: unchanged for version 1 (so ledgers written
    before versions existed stay valid), ``<document>@v<N>`` from version 2 on."""
    return document if version == 1 else f"{document}@v{version}"


def key_version(document: str) -> int:
    m = _VERSION_SUFFIX.search(document)
    return int(m.group(1)) if m else 1


def version_dir(output_dir: Path, month: str, version: int) -> Path:
    return outputs.month_dir(output_dir, month) / SENT_DIR / f"v{version}"


def folder_files(folder: Path) -> dict[str, str]:
    """``{path: sha256}`` of the files of a month folder (``sent/`` left out)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and rel.parts[0] != SENT_DIR:
            out[rel.as_posix()] = outputs.sha256_file(p)
    return out


def carry_sent(output_dir: Path, month: str, staging: Path) -> int:
    """Copy the month's ``sent/`` folder into ``staging`` (before the month is published), so
    the sent versions survive the replacement of the month folder. Returns how many versions."""
    source = outputs.month_dir(output_dir, month) / SENT_DIR
    if not source.is_dir():
        return 0
    target = Path(staging) / SENT_DIR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return sum(1 for p in target.iterdir() if p.is_dir() and p.name.startswith("v"))


# --------------------------------------------------------------------------- month_versions

def versions(engine: Engine, month: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM month_versions WHERE report_month = :m "
                                 "ORDER BY version"), {"m": month})
        return [dict(r._mapping) for r in rows]


def last_delivered(engine: Engine, month: str) -> dict[str, Any] | None:
    """The newest version that is sending or sent (what the cities may hold), or None."""
    done = [v for v in versions(engine, month) if v["status"] in DELIVERED]
    return done[-1] if done else None


def version_row(engine: Engine, month: str, version: int) -> dict[str, Any] | None:
    return next((v for v in versions(engine, month) if v["version"] == version), None)


def ensure_draft(engine: Engine, month: str, version: int, corrects: int | None, changes: int,
                 clock: Callable[[], datetime] = now_utc) -> str:
    """Record (or keep) the draft of ``version``; returns its ``drafted_at`` (which dates the
    erratum, so a rerun of the same correction renders the same bytes)."""
    row = version_row(engine, month, version)
    if row is not None:
        if row["status"] in DELIVERED:
            raise VersionError(f"{month} version {version} is already {row['status']}")
        with engine.begin() as conn:
            conn.execute(text("UPDATE month_versions SET changes = :c, corrects_version = :v "
                              "WHERE report_month = :m AND version = :n"),
                         {"c": changes, "v": corrects, "m": month, "n": version})
        return row["drafted_at"]
    at = clock().isoformat(timespec="seconds")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO month_versions (report_month, version, status, corrects_version, "
            "drafted_at, changes) VALUES (:m, :n, 'draft', :v, :at, :c)"),
            {"m": month, "n": version, "v": corrects, "at": at, "c": changes})
    return at


def drop_undelivered(engine: Engine, output_dir: Path, month: str) -> int:
    """Forget drafts and frozen versions nobody received (the results went back to the last
    sent version): their rows and folders."""
    stale = [v for v in versions(engine, month) if v["status"] not in DELIVERED]
    for v in stale:
        shutil.rmtree(version_dir(output_dir, month, v["version"]), ignore_errors=True)
    if stale:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM month_versions WHERE report_month = :m AND status "
                              "IN ('draft', 'frozen')"), {"m": month})
    return len(stale)


def freeze(engine: Engine, output_dir: Path, month: str, version: int, corrects: int | None,
           changes: int, clock: Callable[[], datetime] = now_utc) -> Path:
    """Copy the published month folder to ``<M>/sent/v<N>/`` and record it as ``frozen``.

    A version already sending or sent is kept as it is (that folder is what went out); an
    undelivered one (frozen by a run that stopped before sending) is frozen again."""
    row = version_row(engine, month, version)
    target = version_dir(output_dir, month, version)
    if row is not None and row["status"] in DELIVERED:
        if not target.is_dir():
            raise VersionError(f"{month} version {version} was {row['status']} but its folder "
                               f"{target} is missing")
        return target
    live = outputs.month_dir(output_dir, month)
    tmp = target.with_name(target.name + ".tmp")
    for p in (tmp, target):
        if p.exists():
            shutil.rmtree(p)
    tmp.mkdir(parents=True)
    for rel in folder_files(live):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(live / rel, tmp / rel)
    tmp.rename(target)
    outputs.attach_to_manifest(live, SENT_DIR)     # the month's manifest names the sent copies
    files = folder_files(target)
    at = clock().isoformat(timespec="seconds")
    params = {"m": month, "n": version, "v": corrects, "at": at, "c": changes,
              "folder": f"{month}/{SENT_DIR}/v{version}", "files": json.dumps(files, sort_keys=True)}
    with engine.begin() as conn:
        if row is None:
            conn.execute(text(
                "INSERT INTO month_versions (report_month, version, status, corrects_version, "
                "drafted_at, frozen_at, folder, files, changes) VALUES (:m, :n, 'frozen', :v, :at, "
                ":at, :folder, :files, :c)"), params)
        else:
            conn.execute(text(
                "UPDATE month_versions SET status = 'frozen', corrects_version = :v, frozen_at = :at, "
                "folder = :folder, files = :files, changes = :c "
                "WHERE report_month = :m AND version = :n"), params)
    log.info("froze %s version %d: %d files in %s", month, version, len(files), target)
    return target


def mark(engine: Engine, month: str, version: int, status: str, **fields: Any) -> None:
    sets = ", ".join(["status = :status"] + [f"{k} = :{k}" for k in fields])
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE month_versions SET {sets} WHERE report_month = :m AND version = :n"),
                     {"status": status, "m": month, "n": version, **fields})


def write_index(engine: Engine, output_dir: Path, month: str) -> Path | None:
    """``<M>/sent/versions.json``: the month's delivered versions and their summaries (what
    ``make run``'s summary prints); rewritten after every send."""
    rows = [v for v in versions(engine, month) if v["status"] in DELIVERED]
    if not rows:
        return None
    keep = ("version", "status", "corrects_version", "sent_at", "frozen_at", "changes",
            "recipients", "summary", "folder")
    index = outputs.write_json(outputs.month_dir(output_dir, month) / VERSIONS_INDEX,
                               [{k: v[k] for k in keep} for v in rows])
    outputs.attach_to_manifest(outputs.month_dir(output_dir, month), SENT_DIR)
    return index


# --------------------------------------------------------------------------- attachments

def record_attachments(engine: Engine, month: str, deliveries: Iterable[tuple[str, str, int, str, str]]) -> int:
    """Record (document, recipient, version, attachment, sha256) rows not recorded yet."""
    with engine.connect() as conn:
        have = {(r[0], r[1], r[2]) for r in conn.execute(text(
            "SELECT document, recipient, attachment FROM delivery_attachments "
            "WHERE report_month = :m"), {"m": month})}
    rows = [{"report_month": month, "document": d, "recipient": r, "version": v,
             "attachment": a, "sha256": h}
            for d, r, v, a, h in deliveries if (d, r, a) not in have]
    if rows:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO delivery_attachments (report_month, document, recipient, version, "
                "attachment, sha256) VALUES (:report_month, :document, :recipient, :version, "
                ":attachment, :sha256)"), rows)
    return len(rows)


def received(engine: Engine, month: str, before_version: int) -> dict[str, dict[str, str]]:
    """What each recipient holds of ``month`` from the versions before ``before_version``:
    ``{recipient: {attachment: sha256}}``, the newest version of each attachment (only
    deliveries the ledger records as sent)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT a.recipient, a.attachment, a.sha256, a.version FROM delivery_attachments a "
            "JOIN delivery_ledger l ON l.report_month = a.report_month AND l.document = a.document "
            "AND l.recipient = a.recipient WHERE a.report_month = :m AND l.status = 'sent' "
            "AND a.version < :n ORDER BY a.version"), {"m": month, "n": before_version}).fetchall()
    out: dict[str, dict[str, str]] = {}
    for recipient, attachment, sha, _version in rows:
        out.setdefault(recipient, {})[attachment] = sha
    return out


def sent_on(engine: Engine, month: str, version: int) -> str | None:
    """The day (YYYY-MM-DD, UTC) ``version`` was first sent to someone, from the ledger."""
    suffix = "" if version == 1 else f"@v{version}"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT document, sent_at FROM delivery_ledger WHERE report_month = :m "
                                 "AND status = 'sent' AND sent_at IS NOT NULL"), {"m": month}).fetchall()
    days = sorted(at for doc, at in rows
                  if key_version(doc) == version and (suffix == "" or doc.endswith(suffix)))
    return days[0][:10] if days else None
