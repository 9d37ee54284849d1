"""The findings file: ``spot_checks/<YYYY-MM>.xlsx`` (or ``.csv``) of the landing area.

Read by the alias-driven readers (``header_aliases.yaml``, section ``spot_check_findings``), so
title rows, 注 lines, full-width text and headers as the sample's xlsx writes them are taken as
for the exports. Every problem is refused, naming the file, the row (as Excel shows it) and the
column, before anything is written: an unknown 项目编号, a 核实改造状态 outside
未开工/已开工/已完工, unreadable money or date, a 项目编号 listed twice, a checked row without
核查人 or 核查日期. A row whose 核实 cells are all empty is "not checked".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import normalize as nz
from ..errors import InputFileError
from ..months import Month
from ..quality import STATUSES
from ..readers import read_table

KIND = "spot_check_findings"
FOLDER = "spot_checks"
SUFFIXES = (".xlsx", ".csv")
VERIFIED = ("verified_status", "verified_invest", "verified_note", "inspector", "checked_on")
_NAME = re.compile(r"^(\d{4}-\d{2})$")
MAX_LISTED = 20


class FindingsFileError(InputFileError):
    """The findings file cannot be used as it is; ``problems`` lists each (row, column, what)."""

    def __init__(self, path, problems: list[str]):
        self.problems = problems
        shown = "; ".join(problems[:MAX_LISTED])
        more = f"; … and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        super().__init__(path, f"{len(problems)} problem(s), nothing loaded: {shown}{more}")


def findings_files(inputs_dir: Path) -> dict[str, Path]:
    """``{YYYY-MM: path}`` of the findings files in the landing area (xlsx preferred)."""
    folder = Path(inputs_dir) / FOLDER
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        m = _NAME.match(path.stem)
        if m and path.suffix.lower() in SUFFIXES and path.is_file():
            if m.group(1) not in out or path.suffix.lower() == ".xlsx":
                out[m.group(1)] = path
    return out


def findings_file(inputs_dir: Path, month: Month) -> Path:
    found = findings_files(inputs_dir).get(str(month))
    if found is None:
        raise InputFileError(Path(inputs_dir) / FOLDER / f"{month}.xlsx",
                             f"file not found: no findings of data month {month} in the landing area")
    return found


@dataclass(frozen=True)
class Finding:
    project_id: str
    source_row: int
    checked: bool
    verified_status: str | None
    verified_invest_yuan: int | None
    verified_note: str | None
    inspector: str | None
    checked_on: str | None      # ISO date


def _shown(value: Any) -> str:
    return repr(nz.text(value) if isinstance(value, str) else value)


def read_findings(path: Path, month: Month, sampled: set[str]) -> pd.DataFrame:
    """The findings of ``month`` from ``path``, one row per returned record (a frame of
    :class:`Finding` fields), or :class:`FindingsFileError` naming every problem."""
    table = read_table(path, KIND)
    header = table.columns                       # field -> header as written in the file
    col = {k: header.get(k, k) for k in ("project_id", *VERIFIED)}
    problems: list[str] = []
    rows: list[Finding] = []
    first_row: dict[str, int] = {}
    for r in table.records:
        row = int(r["source_row"])
        where = f"row {row}"
        pid = nz.text(r.get("project_id"))
        blank = {k: nz.is_blank(r.get(k)) for k in VERIFIED}
        checked = not all(blank.values())
        if not pid:
            problems.append(f"{where}, column {col['project_id']}: empty")
            continue
        if pid not in sampled:
            problems.append(f"{where}, column {col['project_id']}: {pid} is not in the "
                            f"spot-check sample of {month}")
            continue
        if pid in first_row:
            problems.append(f"{where}, column {col['project_id']}: {pid} is listed twice "
                            f"(rows {first_row[pid]} and {row}); keep one row per record")
            continue
        first_row[pid] = row
        status = invest = checked_on = None
        if checked:
            status = nz.text(r.get("verified_status"))
            if status is None:
                problems.append(f"{where}, column {col['verified_status']}: empty in a checked row "
                                f"(allowed: {'/'.join(STATUSES)})")
            elif status not in STATUSES:
                problems.append(f"{where}, column {col['verified_status']}: "
                                f"{_shown(r.get('verified_status'))} is not one of {'/'.join(STATUSES)}")
            invest, ok = nz.money_yuan(r.get("verified_invest"))
            if not ok:
                problems.append(f"{where}, column {col['verified_invest']}: unreadable money "
                                f"{_shown(r.get('verified_invest'))} (a number of 万元)")
            if invest is not None and invest < 0:
                problems.append(f"{where}, column {col['verified_invest']}: negative money {invest / 10000}")
            if blank["inspector"]:
                problems.append(f"{where}, column {col['inspector']}: empty in a checked row")
            day, ok = nz.parse_date(r.get("checked_on"))
            if not ok or day is None:
                problems.append(f"{where}, column {col['checked_on']}: "
                                + ("empty in a checked row" if day is None and ok else
                                   f"unreadable date {_shown(r.get('checked_on'))}"))
            else:
                checked_on = day.isoformat()
        rows.append(Finding(pid, row, checked, status, invest, nz.text(r.get("verified_note")),
                            nz.text(r.get("inspector")), checked_on))
    if problems:
        raise FindingsFileError(path, problems)
    return pd.DataFrame([f.__dict__ for f in rows], columns=list(Finding.__dataclass_fields__))
