"""Readers of the three input tables: annual targets (附件1), the plan registry (附件2) and
the monthly export of the management system.

Real files carry title rows above the header, merged title cells, stamp and 注 lines, trailing
合计 rows, blank rows and several encodings. A reader finds the header row by the header alias
table (``include/config/header_aliases.yaml``), keeps every data row with its source row number
(as a person sees it in Excel or in a text editor) and lists what it skipped and why, so that
nothing disappears silently.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from . import normalize as nz
from . import paths
from .errors import InputFileError

#: how far down a sheet the header row may be
HEADER_SEARCH_ROWS = 30
_SUMMARY_WORDS = ("合计", "总计", "小计", "全省合计", "总合计")
_NOTE_PREFIXES = ("注", "备注", "说明", "填表说明")
CSV_ENCODINGS = ("utf-8-sig", "gb18030")
# the second and later lines of a 注 block: "2、…", "(2)…", "二、…" with text after them
_NUMBERED_NOTE = re.compile(r"^(\d{1,2}|[一二三四五六七八九十]{1,2}|\(\d{1,2}\))[、.．:：].{8,}")


@dataclass(frozen=True)
class FieldSpec:
    key: str
    headers: tuple[str, ...]
    required: bool

    @property
    def canonical(self) -> str:
        return self.headers[0]


@lru_cache(maxsize=None)
def header_aliases(kind: str, config_dir: Path | None = None) -> tuple[FieldSpec, ...]:
    path = (config_dir or paths.config_dir()) / "header_aliases.yaml"
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if kind not in data:
        raise KeyError(f"{path}: no section {kind!r}")
    return tuple(
        FieldSpec(key=k, headers=tuple(v["headers"]), required=bool(v.get("required", False)))
        for k, v in data[kind].items()
    )


@lru_cache(maxsize=None)
def _alias_index(kind: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for spec in header_aliases(kind):
        for h in spec.headers:
            index[nz.key(h)] = spec.key
    return index


@dataclass
class SkippedRow:
    row: int
    reason: str      # "blank", "summary" (合计), "note" (注), "title"
    text: str


@dataclass
class Table:
    """The data rows of one input table, cells as read, keyed by field."""

    path: Path
    kind: str
    sheet: str | None
    header_row: int
    columns: dict[str, str]                       # field key -> header as written in the file
    unknown_columns: list[str]
    records: list[dict[str, Any]]                 # each has "source_row" plus field keys
    skipped: list[SkippedRow] = field(default_factory=list)
    encoding: str | None = None

    @property
    def rows_read(self) -> int:
        return len(self.records)


# --------------------------------------------------------------------------- raw grids

def _read_csv_grid(path: Path) -> tuple[list[list[Any]], str]:
    data = path.read_bytes()
    if not data.strip():
        raise InputFileError(path, "the file is empty")
    for encoding in CSV_ENCODINGS:
        try:
            content = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise InputFileError(path, "cannot decode the file as UTF-8 or GB18030/GBK")
    sample = content[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    return [row for row in csv.reader(io.StringIO(content), delimiter=delimiter)], encoding


def _read_xlsx_sheets(path: Path) -> list[tuple[str, list[list[Any]]]]:
    from python_calamine import CalamineError, CalamineWorkbook  # noqa: PLC0415

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise InputFileError(path, f"not a readable xlsx workbook ({exc})") from exc
    sheets = []
    for name in wb.sheet_names:
        try:
            grid = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except (CalamineError, ValueError) as exc:
            raise InputFileError(path, f"sheet {name!r} cannot be read ({exc})") from exc
        sheets.append((name, grid))
    return sheets


# --------------------------------------------------------------------------- header and rows

def _match_header(cells: list[Any], kind: str) -> dict[int, str]:
    index = _alias_index(kind)
    found: dict[int, str] = {}
    for i, cell in enumerate(cells):
        k = nz.key(cell)
        if k in index:
            found[i] = index[k]
    return found


def _find_header(grid: list[list[Any]], kind: str) -> tuple[int, dict[int, str]] | None:
    best: tuple[int, dict[int, str]] | None = None
    for r, cells in enumerate(grid[:HEADER_SEARCH_ROWS]):
        found = _match_header(cells, kind)
        if len(set(found.values())) >= 2 and (best is None or len(found) > len(best[1])):
            best = (r, found)
    return best


def _as_written(cell: Any) -> str:
    """A header cell as the file writes it (only surrounding whitespace removed)."""
    return "" if nz.is_blank(cell) else str(cell).strip()


def _row_text(cells: list[Any]) -> str:
    return " ".join(nz.text(c) or "" for c in cells if not nz.is_blank(c)).strip()


def _classify(cells: list[Any]) -> str | None:
    """Why a row below the header is not a record, or None when it is one."""
    values = [c for c in cells if not nz.is_blank(c)]
    if not values:
        return "blank"
    first = [nz.key(v) for v in values[:3]]
    if any(v in _SUMMARY_WORDS or v.startswith(("合计", "总计")) for v in first):
        return "summary"
    if len(values) <= 2 and (first[0].startswith(_NOTE_PREFIXES) or _NUMBERED_NOTE.match(first[0])):
        return "note"
    return None


def _table_from_grid(path: Path, kind: str, sheet: str | None, grid: list[list[Any]],
                     header: tuple[int, dict[int, str]], encoding: str | None) -> Table:
    header_index, mapping = header
    header_cells = grid[header_index]
    by_field: dict[str, list[int]] = {}
    for col, key in mapping.items():
        by_field.setdefault(key, []).append(col)
    duplicated = {k: cols for k, cols in by_field.items() if len(cols) > 1}
    if duplicated:
        k, cols = next(iter(duplicated.items()))
        written = ", ".join(repr(nz.text(header_cells[c])) for c in cols)
        raise InputFileError(path, f"columns {written} are all read as {k!r}; keep one")
    specs = header_aliases(kind)
    missing = [s.canonical for s in specs if s.required and s.key not in by_field]
    if missing:
        where = f" (sheet {sheet!r})" if sheet else ""
        raise InputFileError(
            path, f"required column{'s' if len(missing) > 1 else ''} missing{where}: "
                  f"{', '.join(missing)} (header found on row {header_index + 1})")
    columns = {key: _as_written(header_cells[cols[0]]) for key, cols in by_field.items()}
    unknown = [_as_written(c) for i, c in enumerate(header_cells)
               if i not in mapping and not nz.is_blank(c)]
    skipped = [SkippedRow(r + 1, "title", _row_text(cells))
               for r, cells in enumerate(grid[:header_index]) if _row_text(cells)]
    records: list[dict[str, Any]] = []
    for r in range(header_index + 1, len(grid)):
        cells = grid[r]
        reason = _classify(cells)
        if reason:
            if reason != "blank":
                skipped.append(SkippedRow(r + 1, reason, _row_text(cells)))
            continue
        rec: dict[str, Any] = {"source_row": r + 1}
        for key, cols in by_field.items():
            col = cols[0]
            rec[key] = cells[col] if col < len(cells) else None
        records.append(rec)
    return Table(path=path, kind=kind, sheet=sheet, header_row=header_index + 1,
                 columns=columns, unknown_columns=unknown, records=records,
                 skipped=skipped, encoding=encoding)


def read_table(path: Path, kind: str) -> Table:
    """Read one input table of ``kind`` ("targets", "plan" or "export") from xlsx or csv."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        grid, encoding = _read_csv_grid(path)
        sheets = [(None, grid)]
    elif suffix == ".xlsx":
        sheets, encoding = _read_xlsx_sheets(path), None
    else:
        raise InputFileError(path, f"unsupported file type {suffix!r} (expected .xlsx or .csv)")
    if all(not any(not nz.is_blank(c) for c in row) for _, grid in sheets for row in grid):
        raise InputFileError(path, "the file is empty")
    for sheet, grid in sheets:
        header = _find_header(grid, kind)
        if header:
            return _table_from_grid(path, kind, sheet, grid, header, encoding)
    names = ", ".join(repr(s) for s, _ in sheets if s is not None)
    canon = ", ".join(s.canonical for s in header_aliases(kind) if s.required)
    where = f" in any sheet ({names})" if names else ""
    raise InputFileError(path, f"no header row with the expected columns ({canon}){where}")
