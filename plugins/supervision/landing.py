"""The landing area of SPEC §7 and the point-in-time choice of a month's snapshot.

    targets/<year>.csv                        附件1 rows: 市州,任务数
    plan/<year>.xlsx | .csv                   附件2 table, as filed
    exports/<any name>_<YYYY-MM-DD>.xlsx|.csv one snapshot of the management system each
    recipients.csv                            who receives what (needed only for sending)

The snapshot used for data month M is the newest one dated on or before the 1st of M+1, never
a later one, so a backfilled month gives the figures it would have given at the time.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .errors import LandingError
from .months import Month

EXPORT_SUFFIXES = (".xlsx", ".csv")
_SNAPSHOT_NAME = re.compile(r"^(?P<stem>.*)_(?P<date>\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Snapshot:
    path: Path
    taken_on: date

    @property
    def name(self) -> str:
        return self.path.name


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cutoff_for(month: Month) -> date:
    """The cut-off of data month M: the 1st of M+1 (SPEC §7)."""
    return month.next().first_day


def list_snapshots(inputs_dir: Path) -> list[Snapshot]:
    """Every export in ``exports/``, oldest first. A file in that folder that is not a dated
    export is refused: silently skipping it could skip the month's real snapshot."""
    folder = Path(inputs_dir) / "exports"
    if not folder.is_dir():
        raise LandingError(f"{folder}: the landing area has no exports/ folder")
    snapshots = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "~$")) or path.is_dir():
            continue  # hidden files and the lock files Excel leaves beside an open workbook
        if path.suffix.lower() not in EXPORT_SUFFIXES:
            hint = " (save an Excel 97-2003 .xls as .xlsx)" if path.suffix.lower() == ".xls" else ""
            raise LandingError(
                f"{path}: not an export (expected <name>_YYYY-MM-DD.xlsx or .csv){hint}; "
                "move it out of exports/")
        m = _SNAPSHOT_NAME.match(path.stem)
        if not m:
            raise LandingError(
                f"{path}: the snapshot date is missing from the file name "
                "(expected <name>_YYYY-MM-DD.xlsx or .csv)")
        try:
            taken = date.fromisoformat(m.group("date"))
        except ValueError:
            raise LandingError(f"{path}: {m.group('date')} is not a valid date") from None
        snapshots.append(Snapshot(path, taken))
    snapshots.sort(key=lambda s: (s.taken_on, s.name))
    return snapshots


def snapshot_for(inputs_dir: Path, month: Month) -> Snapshot:
    """The newest snapshot dated on or before the cut-off of ``month``."""
    cutoff = cutoff_for(month)
    eligible = [s for s in list_snapshots(inputs_dir) if s.taken_on <= cutoff]
    if not eligible:
        raise LandingError(
            f"{Path(inputs_dir) / 'exports'}: no snapshot for data month {month} "
            f"(none dated on or before {cutoff.isoformat()})")
    newest = eligible[-1]
    same_day = [s for s in eligible if s.taken_on == newest.taken_on]
    if len(same_day) > 1:
        names = ", ".join(s.name for s in same_day)
        raise LandingError(
            f"{Path(inputs_dir) / 'exports'}: more than one snapshot dated "
            f"{newest.taken_on.isoformat()} ({names}); keep one")
    return newest


def previous_snapshot_for(inputs_dir: Path, month: Month) -> Snapshot | None:
    """The snapshot of month M−1, or None when there is none."""
    try:
        return snapshot_for(inputs_dir, month.previous())
    except LandingError:
        return None


def _one_file(folder: Path, year: int, suffixes: tuple[str, ...], what: str) -> Path:
    found = [folder / f"{year}{s}" for s in suffixes if (folder / f"{year}{s}").is_file()]
    if not found:
        raise LandingError(
            f"{folder}: no {what} for {year} (expected {' or '.join(f'{year}{s}' for s in suffixes)})")
    if len(found) > 1:
        raise LandingError(f"{folder}: both {found[0].name} and {found[1].name}; keep one")
    return found[0]


def targets_file(inputs_dir: Path, year: int) -> Path:
    return _one_file(Path(inputs_dir) / "targets", year, (".csv", ".xlsx"), "annual targets (附件1)")


def plan_file(inputs_dir: Path, year: int) -> Path:
    return _one_file(Path(inputs_dir) / "plan", year, (".xlsx", ".csv"), "plan registry (附件2)")


def recipients_file(inputs_dir: Path) -> Path:
    path = Path(inputs_dir) / "recipients.csv"
    if not path.is_file():
        raise LandingError(f"{path}: recipients.csv is needed for sending and is missing "
                           "(to run the month without sending: make run SEND=no, or conf send: false)")
    return path
