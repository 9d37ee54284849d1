"""Readers of the three input tables: annual targets (附件1), the plan registry (附件2) and
the monthly export of the management system.

Real files carry title rows above the header, merged cells, stamp and 注 lines, trailing 合计
rows, blank rows, repeated header rows, two-row headers and several encodings. A reader finds
the header row by the header alias table (``include/config/header_aliases.yaml``), keeps every
data row with its source row number (as a person sees it in Excel or in a text editor) and lists
every other non-blank row with the reason it is not a record, so that nothing disappears
silently: non-blank rows below the header = records + rows listed as skipped, checked on every
read. Everything a reader refuses raises :class:`InputFileError` naming the file and the column,
sheet or row. The rules are documented in ``docs/data-contract.md``.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import yaml

from . import normalize as nz
from . import paths
from .errors import InputFileError

#: how far down a sheet the header row may be
HEADER_SEARCH_ROWS = 30
#: lines of a csv file used to choose its delimiter
DELIMITER_SAMPLE_LINES = 60
CSV_DELIMITERS = (",", "\t", ";", "|")
KINDS = {"targets": "目标任务表（附件1）", "plan": "计划项目汇总表（附件2）", "export": "管理系统导出表",
         "spot_check_findings": "现场抽查核实表"}

# 全省: the published 附件1 puts the province's total on a row of its own, named like a city
_SUMMARY_WORDS = frozenset({"合计", "总计", "小计", "全省合计", "总合计", "本页小计", "本页合计", "全省"})
_NOTE_PREFIXES = ("注", "备注", "说明", "填表说明", "填表人", "填报人", "制表人", "制表", "审核人",
                  "负责人", "单位负责人", "分管领导", "联系人", "联系电话", "填报单位", "填报日期")
# the second and later lines of a 注 block: "2、…", "(2)…", "二、…" with text after them
_NUMBERED_NOTE = re.compile(r"^(\d{1,2}|[一二三四五六七八九十]{1,2}|\(\d{1,2}\))[、.．:：].{8,}")
_COUNT = re.compile(r"^共?(\d+)(个|项|条)(小区|项目|记录)?$")
_HEADER_MARKS = re.compile(r"[*※]")
_BRACKETED = re.compile(r"\([^)]*\)")

_R = TypeVar("_R")

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class FieldSpec:
    key: str
    headers: tuple[str, ...]
    required: bool

    @property
    def canonical(self) -> str:
        return self.headers[0]


@dataclass(frozen=True)
class TableSpec:
    kind: str
    identity: tuple[str, ...]
    fields: tuple[FieldSpec, ...]

    def field(self, key: str) -> FieldSpec:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)


@lru_cache(maxsize=None)
def table_spec(kind: str, config_dir: Path | None = None) -> TableSpec:
    path = (config_dir or paths.config_dir()) / "header_aliases.yaml"
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if kind not in data:
        raise KeyError(f"{path}: no section {kind!r}")
    section = data[kind]
    fields = tuple(
        FieldSpec(key=k, headers=tuple(str(h) for h in v["headers"]),
                  required=bool(v.get("required", False)))
        for k, v in section["fields"].items())
    identity = tuple(section.get("identity") or ())
    unknown = set(identity) - {f.key for f in fields}
    if unknown:
        raise ValueError(f"{path}: {kind}.identity names unknown fields {sorted(unknown)}")
    return TableSpec(kind, identity, fields)


def header_aliases(kind: str, config_dir: Path | None = None) -> tuple[FieldSpec, ...]:
    return table_spec(kind, config_dir).fields


def header_key(cell: Any) -> str:
    """How a header cell is compared with the alias table: NFKC, no whitespace, no * or ※."""
    return _HEADER_MARKS.sub("", nz.key(cell))


@lru_cache(maxsize=None)
def _alias_index(kind: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for spec in header_aliases(kind):
        for h in spec.headers:
            k = header_key(h)
            if index.get(k, spec.key) != spec.key:
                raise ValueError(f"header_aliases.yaml: {h!r} is listed for {index[k]!r} and {spec.key!r}")
            index[k] = spec.key
    return index


@dataclass
class SkippedRow:
    row: int
    reason: str      # "title", "header" (repeated), "summary" (合计), "note" (注), "no_data"
    text: str


@dataclass
class SummaryRow:
    """A 合计 line, its cells by field, for the cross-check against the records."""
    row: int
    cells: dict[str, Any]
    text: str


@dataclass
class Table:
    """The data rows of one input table, cells as read, keyed by field."""

    path: Path
    kind: str
    sheet: str | None
    header_row: int                               # first header row (1-based)
    columns: dict[str, str]                       # field key -> header as written in the file
    unknown_columns: list[str]
    # the records column by column: "source_row" and each field key -> one cell per record, in
    # file order (columns, not a dict per row: a national export has 300,000 records)
    data: dict[str, list[Any]]
    skipped: list[SkippedRow] = field(default_factory=list)
    encoding: str | None = None
    header_rows: int = 1                          # 2 for a two-row header
    delimiter: str | None = None
    absent_optional: list[str] = field(default_factory=list)
    summary_rows: list[SummaryRow] = field(default_factory=list)
    blank_rows: int = 0
    ignored_sheets: list[str] = field(default_factory=list)

    rows_read: int = 0                            # records read (kept when data is released)

    def column(self, key: str) -> list[Any]:
        """One field's cells, record by record (None throughout for a field the file lacks).
        A csv's columns are stored as Arrow strings and given as a new list on each call."""
        if key not in self.data:
            return [None] * self.rows_read
        cells = self.data[key]
        return cells if isinstance(cells, list) else cells.to_pylist()

    def column_blocks(self, keys: list[str], size: int) -> Iterator[list[list[Any]]]:
        """The columns ``keys`` a block of ``size`` records at a time (so that a csv's stored
        columns are never all Python objects at once)."""
        for first in range(0, self.rows_read, size):
            block = []
            for key in keys:
                cells = self.data.get(key)
                if cells is None:
                    block.append([None] * min(size, self.rows_read - first))
                elif isinstance(cells, list):
                    block.append(cells[first:first + size])
                else:
                    block.append(cells.slice(first, size).to_pylist())
            yield block

    @property
    def records(self) -> list[dict[str, Any]]:
        """The records as dicts ("source_row" plus field keys), built on each call."""
        keys = list(self.data)
        return [dict(zip(keys, values)) for values in zip(*(self.column(k) for k in keys))]

    def release(self) -> None:
        """Drop the cells once they are parsed (the counts and the file's shape stay)."""
        self.data = {}

    @property
    def first_data_row(self) -> int:
        return self.header_row + self.header_rows


# --------------------------------------------------------------------------- raw grids

def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode_csv(path: Path, data: bytes) -> tuple[str, str]:
    """The text of a csv file and the encoding it was read with: a BOM decides (UTF-8, UTF-16);
    otherwise UTF-8 when the bytes are valid UTF-8, else GB18030 (a superset of GBK)."""
    if data.startswith(_ZIP):
        raise InputFileError(path, "this is an xlsx workbook (a zip file) named .csv; rename it to .xlsx")
    if data.startswith(_OLE2):
        raise InputFileError(path, "this is an Excel 97-2003 workbook (.xls) named .csv; "
                                   "save it as .xlsx or as csv")
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", "gb18030"]
    errors = []
    for encoding in encodings:
        try:
            content = data.decode(encoding)
        except UnicodeDecodeError as exc:
            errors.append(f"not {encoding.upper()} (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}, line {_line_of(data, exc.start)})")
            continue
        if "\x00" in content:
            raise InputFileError(path, f"contains NUL bytes when read as {encoding.upper()}; "
                                       "it is not a text (csv) file")
        return content, encoding
    raise InputFileError(path, "cannot be decoded: " + "; ".join(errors)
                         + ". Save it as UTF-8 or GBK csv")


def _parse_csv(content: str, delimiter: str, limit: int | None = None) -> list[list[Any]]:
    """The records of a csv text (of its first ``limit`` lines). A cell may be as long as the
    whole text: a long cell is read (and reported by the ingest), never refused for Python's
    default field limit of 131,072 characters."""
    if csv.field_size_limit() < len(content) + 1:
        csv.field_size_limit(len(content) + 1)
    if limit is not None:
        content = _first_lines(content, limit)
    return list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))


def _first_lines(content: str, limit: int, size: int = 1 << 16) -> str:
    """``"".join(content.splitlines(keepends=True)[:limit])`` without splitting the whole
    text (a national export is 300,000 lines): a prefix holding more than ``limit`` lines
    has the same first ``limit`` lines (the one it may cut, perhaps between \\r and \\n, is
    after them). ``size``: the first prefix's length."""
    while True:
        lines = content[:size].splitlines(keepends=True)
        if len(lines) > limit or size >= len(content):
            return "".join(lines[:limit])
        size *= 4


def _unclosed_quote(path: Path, kind: str, head: list[list[Any]], spanning: dict[int, list[Any]],
                    starts: dict[int, int], delimiter: str) -> None:
    """Refuse a csv in which a quote opening a cell is never closed where the cell should end:
    the cell then swallows the following records (and the 合计 line) and they are silently
    lost. The sign: a cell holding line breaks whose inner lines carry as many delimiters as a
    record (at least half the header's), which a real multi-line cell (an address on two lines)
    never does."""
    header = _find_header(head, kind)
    width = max(len(head[header[0]]) if header else 0, 2)
    need = max(1, (width - 1) // 2)
    # only records spanning several lines can hold a line break (a clean file has one record
    # per line, and nothing to look at); the last record is looked at too
    for r in sorted(spanning):
        cells = spanning[r]
        for c, cell in enumerate(cells):
            if "\n" not in cell and "\r" not in cell:
                continue
            inner = cell.splitlines()[1:]
            records = [ln for ln in inner if ln.count(delimiter) >= need]
            if not records:
                continue
            line = starts[r] + sum(len(x.splitlines()) - 1 if x else 0 for x in cells[:c])
            span = len(cell.splitlines())
            label = ""
            if header and r > header[0] and c < len(head[header[0]]):
                label = f" ({_as_written(head[header[0]][c])})"
            totals = [ln for ln in records if _summary_like(nz.key(ln.split(delimiter)[0]) or "")]
            summary = bool(totals)
            records = [ln for ln in records if ln not in totals]
            raise InputFileError(
                path, f"line {line}: the quote (\") that opens column {_column_letter(c)}{label} "
                      f"is never closed, so that cell runs over {span} lines (to line "
                      f"{line + span - 1}) and swallows {len(records)} line(s) that look like "
                      f"records{' and the 合计 line' if summary else ''}; remove the stray quote "
                      "(or close it) and export again")


def _choose_delimiter(content: str, kind: str) -> str:
    # the delimiter is the one under which the header matches the most fields (a sniffer is
    # easily fooled by title lines and by commas inside Chinese text)
    best, best_score = ",", -1
    head = _first_lines(content, DELIMITER_SAMPLE_LINES)
    for delimiter in CSV_DELIMITERS:
        try:
            sample = _parse_csv(head, delimiter)
        except csv.Error:
            continue
        found = _find_header(sample, kind)
        score = len(set(found[1].values())) if found else 0
        if score > best_score:
            best, best_score = delimiter, score
    return best


#: csv rows kept as Python lists at the top of a file (where the header is looked for); the
#: rows below are stored column by column as Arrow strings, a block of rows at a time
HEAD_ROWS = HEADER_SEARCH_ROWS + 2
#: the first record stored as Arrow (the tests store every record, from 0)
_ARROW_FROM = HEAD_ROWS
_BLOCK_ROWS = 50_000


def _read_csv_sheet(path: Path, kind: str, columnar: bool = True) -> tuple[_Sheet, str, str]:
    """A csv file as a sheet. With ``columnar``, only the first :data:`HEAD_ROWS` records are
    Python lists; the others are kept as Arrow string columns (``None`` past a record's end),
    so that a national export's 10 million cells are not 10 million Python objects."""
    data = path.read_bytes()
    if not data.strip():
        raise InputFileError(path, "the file is empty")
    content, encoding = _decode_csv(path, data)
    # a UTF-8 file's bytes are its text's UTF-8 (after the BOM utf-8-sig drops): what Arrow
    # splits, without encoding the text again
    utf8 = data[3:] if encoding == "utf-8-sig" else data if encoding == "utf-8" else None
    del data
    if not content.strip().strip("\ufeff"):
        raise InputFileError(path, "the file is empty")
    best = _choose_delimiter(content, kind)
    if columnar and len(content) >= _SPLIT_MIN_CHARS and '"' not in content and "\0" not in content:
        return _split_csv_sheet(path, kind, content, best, utf8), encoding, best
    del utf8
    if csv.field_size_limit() < len(content) + 1:
        csv.field_size_limit(len(content) + 1)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=best)
    grid: list[list[Any]] = []
    block: list[list[Any]] = []
    blocks: list[list[_Chunk]] = []
    lengths: list[int] = []
    # records spanning several lines (the only ones that can hide an unclosed quote), by index
    spanning: dict[int, list[Any]] = {}
    starts: dict[int, int] = {}
    line = 1
    r, row = -1, []
    try:
        for r, row in enumerate(reader):
            end = reader.line_num
            if end > line:           # this record spans lines line..end
                spanning[r] = row
                starts[r] = line
            line = end + 1
            if not columnar or r < HEAD_ROWS:
                grid.append(row)
            if not columnar or r < _ARROW_FROM:
                continue
            block.append(row)
            if len(block) == _BLOCK_ROWS:
                blocks.append(_store_block(block, None, text=True))
                lengths.append(len(block))
                block = []
    except csv.Error as exc:
        raise InputFileError(path, f"is not a well-formed csv file ({exc})") from exc
    del reader, content
    if block:
        blocks.append(_store_block(block, None, text=True))
        lengths.append(len(block))
    if r >= 0 and r not in spanning:  # the last record is always looked at (as before)
        spanning[r] = row
        starts[r] = line - 1
    _unclosed_quote(path, kind, grid[:HEADER_SEARCH_ROWS], spanning, starts, best)
    body = _StoredRows.from_blocks(blocks, lengths) if blocks else None
    return _Sheet(None, True, grid, body, _ARROW_FROM), encoding, best


#: a csv at least this long with no quote character and no NUL is split by Arrow
#: (:func:`_split_csv_sheet`); the tests split every such file
_SPLIT_MIN_CHARS = 1_000_000
_LINE_END = re.compile(r"\r\n|\r|\n")


def _split_csv_sheet(path: Path, kind: str, content: str, delimiter: str,
                     utf8: bytes | None = None) -> _Sheet:
    """:func:`_read_csv_sheet` of a csv without any quote character (nor NUL), as a national
    export usually is: there ``csv.reader`` gives each line (ended by \\r\\n, \\r or \\n, as
    ``io.StringIO(newline="")`` reads it) split at the delimiter, an empty line as no cell; so
    the lines below the head are split by Arrow, a block at a time, and never become Python
    lists. The same rows as ``csv.reader`` (the tests compare both on the corpus and on
    generated files). ``utf8``: the text's UTF-8 bytes, when the file had them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    # the lines split by Arrow, never one Python string a line: at the one line end the text
    # uses (\n, or \r\n as exported on Windows), else at the same alternation as _LINE_END
    # (RE2, leftmost first: \r\n before \r)
    if utf8 is None:
        whole = pa.array([content], pa.large_string())
        cr, lf = content.count("\r"), content.count("\n")
    else:
        whole = pa.LargeStringArray.from_buffers(
            1, pa.py_buffer(np.array([0, len(utf8)], dtype=np.int64)), pa.py_buffer(utf8))
        cr, lf = utf8.count(b"\r"), utf8.count(b"\n")
    lines = pc.split_pattern(whole, "\n" if cr == 0 else "\r\n").flatten()
    if cr and not (cr == lf == len(lines) - 1):    # not every \r and \n is one \r\n
        lines = pc.split_pattern_regex(whole, _LINE_END.pattern).flatten()
    count = len(lines)
    if count and lines[count - 1].as_py() == "":   # the file ends with a line break: no
        count -= 1                                 # record after it
    grid = [line.split(delimiter) if line else []
            for line in lines.slice(0, min(HEAD_ROWS, count)).to_pylist()]
    blocks: list[list[_Chunk]] = []
    lengths: list[int] = []
    for first in range(_ARROW_FROM, count, _BLOCK_ROWS):
        text = lines.slice(first, min(_BLOCK_ROWS, count - first)).cast(pa.string())
        split = pc.split_pattern(text, delimiter)
        offsets = split.offsets.to_numpy()
        widths = np.diff(offsets)
        widths[np.asarray(pc.equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)] = 0
        cells = split.flatten()
        block = []
        for col in range(int(widths.max(initial=0))):
            present = widths > col
            taken = cells.take(pa.array(np.where(present, offsets[:-1] + col, 0)))
            block.append(_Chunk(pc.if_else(pa.array(present), taken,
                                           pa.scalar(None, pa.string())), None))
        blocks.append(block)
        lengths.append(len(text))
    last = count - 1
    if last >= 0:  # the last record is always looked at (as csv.reader's path does)
        line = lines[last].as_py()
        _unclosed_quote(path, kind, grid[:HEADER_SEARCH_ROWS],
                        {last: line.split(delimiter) if line else []},
                        {last: last + 1}, delimiter)
    body = _StoredRows.from_blocks(blocks, lengths) if blocks else None
    return _Sheet(None, True, grid, body, _ARROW_FROM)


class _Chunk:
    """Some records' cells of one column: an Arrow array (whose nulls read as ``empty``: None
    past a csv record's end, "" for an empty xlsx cell) or, for cells of mixed types, the
    Python list itself."""
    __slots__ = ("values", "empty", "n")

    def __init__(self, values: Any, empty: Any = None):
        self.values, self.empty, self.n = values, empty, len(values)

    def pylist(self, index: list[int] | None = None) -> list[Any]:
        import pyarrow as pa

        values = self.values
        if isinstance(values, list):
            return values if index is None else [values[i] for i in index]
        if index is not None:
            values = values.take(pa.array(index, type=pa.int64()))
        out = values.to_pylist()
        if self.empty is not None and values.null_count:
            out = list(map({None: self.empty}.get, out, out))
        return out

    def take(self, index: list[int]) -> "_Chunk":
        import pyarrow as pa

        if isinstance(self.values, list):
            return _Chunk([self.values[i] for i in index], self.empty)
        return _Chunk(self.values.take(pa.array(index, type=pa.int64())), self.empty)

    def slice(self, first: int, stop: int | None = None) -> "_Chunk":
        return _Chunk(self.values[first:stop], self.empty)


def _chunk(cells: tuple | list, empty: Any, text: bool = False) -> _Chunk:
    """A column's cells stored compactly when they are all of one kind: text (and None), or
    numbers with empty cells ("") among them; otherwise kept as they are. ``text``: the cells
    are known to be text or None (a csv's), so their types need not be counted."""
    import pyarrow as pa

    if text:
        return _Chunk(pa.array(cells, type=pa.string()), None)
    counts = Counter(map(type, cells))
    kinds = set(counts) - {type(None)}
    try:
        if kinds <= {str}:
            return _Chunk(pa.array(cells, type=pa.string()), None)
        numbers = kinds - {str}
        # numbers, and empty xlsx cells ("") and nothing else: the empties become nulls
        if (empty == "" and not counts[type(None)] and len(numbers) == 1
                and numbers <= {float, int, bool} and counts[str] == cells.count("")):
            kind = {float: pa.float64(), int: pa.int64(), bool: pa.bool_()}[next(iter(numbers))]
            values = list(map({"": None}.get, cells, cells)) if counts[str] else cells
            return _Chunk(pa.array(values, type=kind), "")
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    return _Chunk(list(cells), empty)


def _store_block(rows: list[list[Any]], empty: Any, text: bool = False) -> list[_Chunk]:
    """A block of records as one chunk per column (None past a record's end); ``text``: every
    cell is a string (a csv's records)."""
    from itertools import zip_longest

    return [_chunk(column, empty, text) for column in zip_longest(*rows)]


class _StoredRows:
    """Records below a sheet's head, column by column in chunks (see :class:`_Chunk`):
    ``cells(col, which)`` gives a column (or the cells of some records, ``which`` ascending)
    as Python values, ``rows(which)`` whole records; a record shorter than the widest has None
    past its end, as :func:`_cell` reads it."""

    def __init__(self, columns: list[list[_Chunk]], n: int, empty: Any = None):
        self.columns, self.n, self.empty = columns, n, empty   # empty: the file's empty cell

    @classmethod
    def from_blocks(cls, blocks: list[list[_Chunk]], lengths: list[int],
                    empty: Any = None) -> "_StoredRows":
        width = max(len(b) for b in blocks)
        columns = [[b[c] if c < len(b) else _Chunk([None] * n) for b, n in zip(blocks, lengths)]
                   for c in range(width)]
        return cls(columns, sum(lengths), empty)

    def prepend(self, rows: list[list[Any]]) -> "_StoredRows":
        """These Python rows above the stored ones (the head's rows below the header)."""
        if not rows:
            return self
        width = max(len(self.columns), max(len(r) for r in rows))
        padded = [list(r) + [None] * (width - len(r)) for r in rows]
        columns = []
        for c in range(width):
            rest = self.columns[c] if c < len(self.columns) else [_Chunk([None] * self.n)]
            columns.append([_chunk([r[c] for r in padded], self.empty), *rest])
        return _StoredRows(columns, self.n + len(rows), self.empty)

    def tail(self, first: int) -> "_StoredRows":
        """The rows from ``first`` on."""
        if not first:
            return self
        columns = []
        for chunks in self.columns:
            skip, kept = first, []
            for ch in chunks:
                if skip >= ch.n:
                    skip -= ch.n
                    continue
                kept.append(ch.slice(skip) if skip else ch)
                skip = 0
            columns.append(kept)
        return _StoredRows(columns, max(0, self.n - first), self.empty)

    @property
    def width(self) -> int:
        return len(self.columns)

    def __len__(self) -> int:
        return self.n

    def _split(self, chunks: list[_Chunk], which: list[int]) -> Iterator[tuple[_Chunk, list[int]]]:
        """Each chunk with the indices of ``which`` that fall in it (relative to the chunk)."""
        from bisect import bisect_left

        start = 0
        for ch in chunks:
            lo, hi = bisect_left(which, start), bisect_left(which, start + ch.n)
            if hi > lo:
                yield ch, [i - start for i in which[lo:hi]]
            start += ch.n

    @staticmethod
    def _run(chunks: list[_Chunk], first: int, stop: int) -> Iterator[_Chunk]:
        """The rows first..stop-1 of a column, as slices of its chunks (those it reaches)."""
        start = 0
        for ch in chunks:
            lo, hi = max(first, start), min(stop, start + ch.n)
            if hi > lo:
                yield ch.slice(lo - start, hi - start)
            start += ch.n

    def cells(self, col: int, which: list[int] | None = None) -> list[Any]:
        if which is not None and len(which) == self.n:
            which = None
        if col >= len(self.columns):
            return [None] * (self.n if which is None else len(which))
        out: list[Any] = []
        if which is None:
            for ch in self.columns[col]:
                out.extend(ch.pylist())
        else:
            for ch, index in self._split(self.columns[col], which):
                out.extend(ch.pylist(index))
        return out

    def map_cells(self, col: int, fn: Callable[[Any], Any]) -> list[Any]:
        """``_per_cell(fn, self.cells(col))``: an Arrow chunk's distinct cells found by Arrow
        (``dictionary_encode``), so that the cells never become Python objects; ``fn`` must
        be pure (the screen's tests of a cell)."""
        if col >= len(self.columns):
            return [fn(None)] * self.n
        out: list[Any] = []
        for ch in self.columns[col]:
            if isinstance(ch.values, list):
                out.extend(_per_cell(fn, ch.values))
                continue
            import numpy as np

            encoded = ch.values.dictionary_encode()
            mapped = [fn(v) for v in encoded.dictionary.to_pylist()] + [fn(ch.empty)]
            index = encoded.indices.fill_null(len(mapped) - 1).to_numpy()
            table = np.empty(len(mapped), dtype=object)
            table[:] = mapped
            out.extend(table[index].tolist())
        return out

    def rows(self, which: list[int]) -> list[list[Any]]:
        columns = [self.cells(c, which) for c in range(len(self.columns))]
        return [list(r) for r in zip(*columns)] if columns else [[] for _ in which]

    def select(self, keep: list[int]) -> "_StoredRows":
        if len(keep) == self.n:
            return self
        if keep and keep[-1] - keep[0] + 1 == len(keep):
            # a run of rows (an export without its 合计 lines at the end): slices of the same
            # arrays, not a copy of every cell (keep is in ascending order, as the screen gives it)
            first, stop = keep[0], keep[-1] + 1
            return _StoredRows([list(self._run(chunks, first, stop)) for chunks in self.columns],
                               len(keep), self.empty)
        return _StoredRows([[ch.take(index) for ch, index in self._split(chunks, keep)]
                            for chunks in self.columns], len(keep), self.empty)

    def records(self, col: int) -> Any:
        """Column ``col`` with "" read as empty (None): an Arrow column when every chunk is
        an Arrow array of one type, else a list (see :meth:`Table.column`)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if col >= len(self.columns):
            return [None] * self.n
        chunks = self.columns[col]
        arrays = [ch.values for ch in chunks if ch.n]
        if arrays and all(not isinstance(a, list) for a in arrays) and len({a.type for a in arrays}) == 1:
            column = pa.chunked_array(arrays)
            if pa.types.is_string(column.type):
                column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
            return column          # the nulls of a number column are its empty cells
        return _empty_to_none(self.cells(col))


@dataclass
class _Sheet:
    name: str | None
    visible: bool
    grid: list[list[Any]]
    body: _StoredRows | None = None    # the records below the head (see _read_csv_sheet)
    body_from: int = 0                 # the index of the body's first row


def _fill_merged(grid: list[list[Any]], ranges) -> None:
    """A merged range shows its top-left value in every cell it covers: give each cell that
    value (a 市州 merged down a city's rows belongs to each of them)."""
    for (r0, c0), (r1, c1) in ranges or ():
        if r0 >= len(grid) or c0 >= len(grid[r0]):
            continue
        value = grid[r0][c0]
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            row = grid[r]
            for c in range(c0, min(c1, len(row) - 1) + 1):
                row[c] = value


#: the most cells a sheet's used range may span before it is read (calamine allocates the whole
#: range: a national export is 300,000 × 40 = 12 million cells; one stray cell at XFD1048576
#: makes it 17 billion, 512 GiB, and the process aborts)
MAX_SHEET_CELLS = 60_000_000
_FAR_CELL = re.compile(rb'<c r="([A-Z]{3}\d+|[A-Z]{1,2}\d{7,})"')
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"([^>]*?)(/>|>(.*?)</c>)', re.S)
_HAS_TEXT = re.compile(rb"<(?:v|t)(?: [^>]*)?>[^<]*\S[^<]*</(?:v|t)>")


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _sheet_names(zf) -> dict[str, str]:
    """Worksheet part (xl/worksheets/sheet1.xml) → the sheet's name as Excel shows it."""
    try:
        book = zf.read("xl/workbook.xml").decode("utf-8")
        rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return {}
    targets = {m.group(2): m.group(1) for m in re.finditer(r'<Relationship[^>]*Target="([^"]+)"[^>]*Id="([^"]+)"', rels)}
    targets.update({m.group(1): m.group(2) for m in re.finditer(r'<Relationship[^>]*Id="([^"]+)"[^>]*Target="([^"]+)"', rels)})
    out = {}
    for m in re.finditer(r'<sheet [^>]*name="([^"]+)"[^>]*r:id="([^"]+)"', book):
        target = targets.get(m.group(2), "")
        out["xl/" + target.removeprefix("/xl/").removeprefix("xl/")] = m.group(1)
    return out


def _has_far_cell(zf, name: str, chunk: int = 1 << 24) -> bool:
    """Whether a worksheet part holds a cell past column ZZ or row 999,999, read in chunks (a
    national export's sheet is hundreds of MB uncompressed: never held whole for this)."""
    tail = b""
    with zf.open(name) as f:
        while True:
            data = f.read(chunk)
            if not data:
                return False
            if _FAR_CELL.search(tail + data):
                return True
            tail = data[-32:]


def _check_sheet_ranges(path: Path) -> None:
    """Refuse a workbook one of whose sheets spans more than :data:`MAX_SHEET_CELLS` cells,
    before calamine allocates it, naming the far cell, the range it makes and the range the
    data really lie in. Only cells in a column past ZZ or a row past 999,999 can do that: the
    sheet XML is searched for them (about 0.1 s per 100 MB), and only such a sheet is scanned
    cell by cell."""
    import zipfile  # noqa: PLC0415

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # calamine names what is wrong with it
    with zf:
        names = [n for n in zf.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        for name in sorted(names):
            if not _has_far_cell(zf, name):
                continue
            data = zf.read(name)
            rows = cols = used_rows = used_cols = farthest = 0
            far = ""
            for m in _CELL_REF.finditer(data):
                col, row = _column_index(m.group(1).decode()) + 1, int(m.group(2))
                if row * col > farthest:
                    farthest, far = row * col, f"{m.group(1).decode()}{row}"
                rows, cols = max(rows, row), max(cols, col)
                body = m.group(5) or b""
                if _HAS_TEXT.search(body):
                    used_rows, used_cols = max(used_rows, row), max(used_cols, col)
            if rows * cols <= MAX_SHEET_CELLS:
                continue
            real = (f"A1:{_column_letter(used_cols - 1)}{used_rows}" if used_rows
                    else "no cell with a value")
            raise InputFileError(
                path, f"sheet {_sheet_names(zf).get(name, name)!r}: cell {far} makes the used range "
                      f"A1:{_column_letter(cols - 1)}{rows} ({rows * cols:,} cells, more than "
                      f"{MAX_SHEET_CELLS:,} can be read); the data lie in {real}. Delete the rows "
                      "and columns beyond the data (Ctrl+End shows the last cell) and save again")


def _read_xlsx_sheets(path: Path) -> list[_Sheet]:
    from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum  # noqa: PLC0415

    with path.open("rb") as f:
        head = f.read(512)
    if not head.strip():
        raise InputFileError(path, "the file is empty")
    if not head.startswith(_ZIP):
        if head.startswith(_OLE2):
            why = "an Excel 97-2003 workbook (.xls) named .xlsx; save it as .xlsx"
        elif head.lstrip().startswith(b"<"):
            why = ("an HTML or XML page named .xlsx (some systems export web tables this way); "
                   "open it in Excel and save it as .xlsx")
        else:
            why = "not an xlsx workbook (it looks like a text file; if it is csv, name it .csv)"
        raise InputFileError(path, why)
    _check_sheet_ranges(path)
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise InputFileError(path, f"not a readable xlsx workbook ({exc})") from exc
    sheets = []
    for meta in wb.sheets_metadata:
        body = None
        try:
            sheet = wb.get_sheet_by_name(meta.name)
            ranges = sheet.merged_cell_ranges or []
            if COLUMNAR_XLSX and sheet.start == (0, 0) and _disjoint(ranges):
                grid, body = _stream_sheet(sheet.iter_rows(), ranges)
            else:
                grid = sheet.to_python(skip_empty_area=False)
                _fill_merged(grid, ranges)
        except (CalamineError, ValueError) as exc:
            raise InputFileError(path, f"sheet {meta.name!r} cannot be read ({exc})") from exc
        sheets.append(_Sheet(meta.name, meta.visible == SheetVisibleEnum.Visible, grid, body,
                             _ARROW_FROM))
    return sheets


def _disjoint(ranges: list) -> bool:
    """Merged ranges that can be filled row by row as :func:`_fill_merged` fills them: well
    formed and not overlapping (a few hundred at most; more are filled the plain way)."""
    if len(ranges) > 300:
        return False
    for i, ((r0, c0), (r1, c1)) in enumerate(ranges):
        if r1 < r0 or c1 < c0:
            return False
        for (s0, d0), (s1, d1) in ranges[i + 1:]:
            if r0 <= s1 and s0 <= r1 and c0 <= d1 and d0 <= c1:
                return False
    return True


def _stream_sheet(rows: Iterable[list[Any]], ranges: list) -> tuple[list[list[Any]], _StoredRows | None]:
    """A sheet's rows read one at a time, merged ranges filled as :func:`_fill_merged` does:
    the first :data:`HEAD_ROWS` as Python rows, the records below stored column by column
    (:class:`_StoredRows`), so that a national sheet's cells are not all Python objects."""
    pending = sorted(ranges, key=lambda rg: rg[0][0])
    active: list[tuple[int, int, int, Any]] = []        # (last row, first col, last col, value)
    grid: list[list[Any]] = []
    block: list[list[Any]] = []
    blocks: list[list[_Chunk]] = []
    lengths: list[int] = []
    k = 0
    for r, row in enumerate(rows):
        while k < len(pending) and pending[k][0][0] <= r:
            (r0, c0), (r1, c1) = pending[k]
            k += 1
            if r0 == r and c0 < len(row):
                active.append((r1, c0, c1, row[c0]))
        if active:
            for _, c0, c1, value in active:
                for c in range(c0, min(c1, len(row) - 1) + 1):
                    row[c] = value
            active = [a for a in active if a[0] > r]
        if r < HEAD_ROWS:
            grid.append(row)
        if r < _ARROW_FROM:
            continue
        block.append(row)
        if len(block) == _BLOCK_ROWS:
            blocks.append(_store_block(block, ""))
            lengths.append(len(block))
            block = []
    if block:
        blocks.append(_store_block(block, ""))
        lengths.append(len(block))
    return grid, (_StoredRows.from_blocks(blocks, lengths, "") if blocks else None)


# --------------------------------------------------------------------------- header

def _cell(cells: list[Any], col: int) -> Any:
    return cells[col] if col < len(cells) else None


def _match_header(cells: list[Any], kind: str) -> dict[int, str]:
    index = _alias_index(kind)
    found: dict[int, str] = {}
    for i, cell in enumerate(cells):
        k = header_key(cell)
        if k in index:
            found[i] = index[k]
    return found


def _combine(grid: list[list[Any]], r: int, upper: dict[int, str], kind: str) -> dict[int, str] | None:
    """A second header row under row ``r`` (the sub-headers of a grouped header such as
    资金来源 → 中央补助资金 …): its matches, merged into the upper row's, or None when the row
    below is not a header row (it holds values under the upper row's columns)."""
    if r + 1 >= len(grid):
        return None
    below, lower_cells, upper_cells = _match_header(grid[r + 1], kind), grid[r + 1], grid[r]
    if not below or not (set(below.values()) - set(upper.values())):
        return None
    for col in upper:
        if col in below:
            continue
        value = _cell(lower_cells, col)
        if not nz.is_blank(value) and header_key(value) != header_key(_cell(upper_cells, col)):
            return None
    combined = dict(upper)
    combined.update(below)
    return combined


def _find_header(grid: list[list[Any]], kind: str) -> tuple[int, dict[int, str], int] | None:
    """(row index, column → field, number of header rows) of the best header in the first
    rows: the most fields matched; at least two."""
    best: tuple[int, dict[int, str], int] | None = None
    best_score = 1
    for r, cells in enumerate(grid[:HEADER_SEARCH_ROWS]):
        found = _match_header(cells, kind)
        if not found:
            continue
        options = [(found, 1)]
        combined = _combine(grid, r, found, kind)
        if combined:
            options.insert(0, (combined, 2))
        for mapping, rows in options:
            score = len(set(mapping.values()))
            if score > best_score:
                best, best_score = (r, mapping, rows), score
    return best


def _as_written(cell: Any) -> str:
    """A header cell as the file writes it (only surrounding whitespace removed)."""
    return "" if nz.is_blank(cell) else str(cell).strip()


def _column_letter(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _row_text(cells: list[Any]) -> str:
    out: list[str] = []
    for c in cells:
        t = nz.text(c) if not nz.is_blank(c) else None
        if t and (not out or out[-1] != t):  # a merged cell is repeated across its range
            out.append(t)
    return " ".join(out)


def _missing_hint(spec: FieldSpec, labels: list[str]) -> str:
    """A column of the file that looks like the missing one apart from its bracketed unit."""
    wanted = {_BRACKETED.sub("", header_key(h)) for h in spec.headers}
    near = [lab for lab in labels if _BRACKETED.sub("", header_key(lab)) in wanted]
    return f" (the file has a column {near[0]!r}: another unit?)" if near else ""


# --------------------------------------------------------------------------- rows

def _summary_like(k: str) -> bool:
    return (k in _SUMMARY_WORDS or k.startswith(("合计", "总计"))
            or (k.endswith(("小计", "合计", "总计")) and len(k) <= 12))


def _repeats_header(cells: list[Any], header_keys: dict[int, str]) -> bool:
    """At least half of the header cells (two at the least) repeated in this row. Only text
    cells can repeat a header: the other cells are counted first (a type check each), and the
    text cells are normalised only while the answer is still open."""
    need = max(2, len(header_keys) // 2)
    misses_allowed = len(header_keys) - need
    texts = [(c, h) for c, h in header_keys.items() if type(_cell(cells, c)) is str]
    misses = len(header_keys) - len(texts)
    if misses > misses_allowed:
        return False
    hits = 0
    for c, h in texts:
        if header_key(cells[c]) == h:
            hits += 1
            if hits >= need:
                return True
        else:
            misses += 1
            if misses > misses_allowed:
                return False
    return False


def _classify(cells: list[Any], identity_cols: list[int], data_cols: list[int],
              header_keys: dict[int, str]) -> str | None:
    """Why a non-blank row below the header is not a record, or None when it is one."""
    keys: list[str] = []   # the first three distinct non-blank cells (enough for every test)
    more = False           # ... and whether the row has more than two of them
    for c in cells:  # a merged cell repeats its value across its range: count it once
        k = nz.key(c) if not nz.is_blank(c) else ""
        if k and (not keys or keys[-1] != k):
            if len(keys) == 3:
                more = True
                break
            keys.append(k)
    more = more or len(keys) > 2
    identity = [nz.key(_cell(cells, c)) for c in identity_cols]
    identity = [k for k in identity if k]
    if header_keys and _repeats_header(cells, header_keys):
        return "header"
    if any(_summary_like(k) for k in keys[:3]) and all(_summary_like(k) or _COUNT.match(k)
                                                        for k in identity):
        return "summary"
    first = keys[0] if keys else ""
    if (not more and (first.startswith(_NOTE_PREFIXES) or _NUMBERED_NOTE.match(first))
            and all(k == first for k in identity)):
        return "note"
    if all(nz.is_blank(_cell(cells, c)) for c in data_cols):
        return "no_data"
    return None


# --------------------------------------------------------------------------- the row screen

#: screen the rows column by column before classifying them one by one (False: every row goes
#: through :func:`_classify`, the reference the tests compare the screen with)
SCREEN_ROWS = True
#: keep a csv's / an xlsx sheet's records as Arrow columns (False: Python rows, the reference
#: of the tests)
COLUMNAR_CSV = True
COLUMNAR_XLSX = True
#: below this many rows the screen is not worth its set-up
_SCREEN_MIN_ROWS = 200


def _per_cell(fn: Callable[[Any], _R], cells: list[Any]) -> list[_R]:
    """``[fn(v) for v in cells]`` with ``fn`` evaluated once per distinct cell (``typed``: 1,
    1.0 and True stay apart); ``fn`` must be pure. An unhashable cell is evaluated directly."""
    once = lru_cache(maxsize=None, typed=True)(fn)
    try:
        return list(map(once, cells))
    except TypeError:
        return [fn(v) for v in cells]


def _blank_cell(value: Any) -> bool:
    return value is None or (value.__class__ is str and value == "") or nz.is_blank(value)


def _column_of(rows: list[list[Any]], col: int, which: list[int] | None = None,
               shortest: int | None = None) -> list[Any]:
    """Column ``col`` of ``rows[i]`` for each ``i`` of ``which`` (all rows when None), None
    past a row's end. ``shortest``: the length of the shortest row, when known."""
    if which is not None and len(which) != len(rows):
        rows = [rows[i] for i in which]
    if shortest is None:
        shortest = min(map(len, rows), default=0)
    if col < shortest:  # every row reaches the column: taken at C speed
        return list(map(itemgetter(col), rows))
    return [row[col] if col < len(row) else None for row in rows]


def _empty_to_none(cells: list[Any]) -> list[Any]:
    """The cells with "" read as empty (None)."""
    try:
        return list(map({"": None}.get, cells, cells))
    except TypeError:  # an unhashable cell
        return [None if v.__class__ is str and v == "" else v for v in cells]


class _ListRows:
    """Records as Python lists, each padded to the table's width (the interface of
    :class:`_StoredRows`)."""

    def __init__(self, rows: list[list[Any]], width: int):
        self.list, self.width = rows, width

    def __len__(self) -> int:
        return len(self.list)

    def cells(self, col: int, which: list[int] | None = None) -> list[Any]:
        return _column_of(self.list, col, which, shortest=self.width)

    def map_cells(self, col: int, fn: Callable[[Any], Any]) -> list[Any]:
        return _per_cell(fn, self.cells(col))

    def rows(self, which: list[int]) -> list[list[Any]]:
        return [self.list[i] for i in which]

    def select(self, keep: list[int]) -> "_ListRows":
        return self if len(keep) == len(self.list) else _ListRows(self.rows(keep), self.width)

    def records(self, col: int) -> list[Any]:
        return _empty_to_none(self.cells(col))


def _all_blank(body: Any, cols: Iterable[int], which: list[int]) -> list[int]:
    """The rows of ``which`` whose cells in ``cols`` are all blank, column after column: a
    row leaves the search at its first non-blank cell, so a record row costs a cell or two."""
    for col in cols:
        if not which:
            break
        blank = (body.map_cells(col, _blank_cell) if len(which) == len(body)
                 else _per_cell(_blank_cell, body.cells(col, which)))
        which = list(compress(which, blank))
    return which


def _cardinality(body: Any, col: int, sample: int = 2000) -> int:
    cells = body.cells(col, list(range(min(len(body), sample))))
    try:
        return len(set(cells))
    except TypeError:
        return len(cells)


def _screen(body: Any, width: int, identity_cols: list[int], data_cols: list[int],
            header_keys: dict[int, str]) -> list[int]:
    """The rows (indices into ``body``) that :func:`_classify` could skip or that could be
    blank: every other row is a record. Each test is a necessary condition of one reason,
    computed column-wise on distinct cells:

    - blank: every cell blank (exact);
    - no_data: every data cell blank (exact);
    - header: ``_repeats_header`` needs at least ``need`` of the header columns to repeat their
      header, so at most ``len - need`` may miss: among any ``len - need + 1`` of them one
      repeats its header (the columns with the fewest distinct cells are taken);
    - summary: every non-blank identity cell reads as a total (合计…) or a count (共12个);
    - note: the non-blank identity cells all equal the row's first cell, which starts like a
      注 line: so every identity cell is blank or one of them starts like a 注 line.

    The rows found go through :func:`_classify` itself: the screen decides nothing but which
    rows need the full test."""
    n = len(body)
    every = list(range(n))
    maybe = set(_all_blank(body, range(width), every))
    maybe.update(_all_blank(body, data_cols, every))
    h = len(header_keys)
    need = max(2, h // 2)
    if h >= 2 and h - need >= 0:
        cheapest = sorted(header_keys, key=lambda c: _cardinality(body, c))[:h - need + 1]
        for col in cheapest:
            target = header_keys[col]
            hits = body.map_cells(col, lambda v, t=target: v.__class__ is str and header_key(v) == t)
            maybe.update(compress(every, hits))
    if identity_cols:
        total_like = [True] * n
        note_like = [False] * n
        identity_blank = [True] * n
        for col in identity_cols:
            keys = body.map_cells(col, nz.key)
            total_like = [t and (not k or _summary_like(k) or _COUNT.match(k) is not None)
                          for t, k in zip(total_like, keys)]
            note_like = [t or (k.startswith(_NOTE_PREFIXES) or _NUMBERED_NOTE.match(k) is not None)
                         for t, k in zip(note_like, keys)]
            identity_blank = [b and not k for b, k in zip(identity_blank, keys)]
        maybe.update(compress(every, total_like))
        maybe.update(compress(every, note_like))
        maybe.update(compress(every, identity_blank))
    else:  # nothing makes a row a record for sure: every row is looked at
        return every
    return sorted(maybe)


def _table_from_grid(path: Path, kind: str, sheet: _Sheet,
                     header: tuple[int, dict[int, str], int], encoding: str | None,
                     delimiter: str | None) -> Table:
    spec = table_spec(kind)
    grid = sheet.grid
    header_index, mapping, header_rows = header
    head = grid[header_index:header_index + header_rows]

    def label(col: int) -> str:
        for cells in reversed(head):
            written = _as_written(_cell(cells, col))
            if written:
                return written
        return ""

    by_field: dict[str, list[int]] = {}
    for col, key in sorted(mapping.items()):
        by_field.setdefault(key, []).append(col)
    duplicated = {k: cols for k, cols in by_field.items() if len(cols) > 1}
    if duplicated:
        k, cols = next(iter(duplicated.items()))
        written = ", ".join(f"{label(c)!r} (column {_column_letter(c)})" for c in cols)
        raise InputFileError(path, f"{written} are all read as {spec.field(k).canonical}; keep one")
    width = max(max((len(r) for r in grid), default=0), sheet.body.width if sheet.body else 0)
    unknown_cols = [c for c in range(width) if c not in mapping]
    labels = [label(c) for c in unknown_cols if label(c)]
    missing = [s for s in spec.fields if s.required and s.key not in by_field]
    if missing:
        where = f" (sheet {sheet.name!r})" if sheet.name else ""
        names = ", ".join(s.canonical + _missing_hint(s, labels) for s in missing)
        rows = f"{header_index + 1}" + (f"–{header_index + header_rows}" if header_rows > 1 else "")
        raise InputFileError(
            path, f"required column{'s' if len(missing) > 1 else ''} missing{where}: {names} "
                  f"(header found on row {rows})")
    columns = {key: label(cols[0]) for key, cols in by_field.items()}
    identity_cols = [by_field[k][0] for k in spec.identity if k in by_field]
    data_cols = [cols[0] for k, cols in by_field.items() if k != "seq"]
    header_keys = {c: header_key(_cell(head[-1], c)) or header_key(_cell(head[0], c)) for c in mapping}
    skipped = [SkippedRow(r + 1, "title", _row_text(cells))
               for r, cells in enumerate(grid[:header_index]) if _row_text(cells)]
    keys = list(by_field)
    first_cols = [cols[0] for cols in by_field.values()]
    summary_rows: list[SummaryRow] = []
    start = header_index + header_rows + 1        # the 1-based row of the first record
    under = header_index + header_rows          # the index of the first row below the header
    if sheet.body is not None:  # a csv: the head's rows below the header, then the stored ones
        body: Any = sheet.body.tail(max(0, under - sheet.body_from)).prepend(
            grid[under:sheet.body_from])
    else:  # each row as wide as the widest (None past its end, as _cell reads it)
        body = _ListRows([r if len(r) >= width else r + [None] * (width - len(r))
                          for r in grid[header_index + header_rows:]], width)
    if SCREEN_ROWS and len(body) >= _SCREEN_MIN_ROWS:
        look_at = _screen(body, width, identity_cols, data_cols, header_keys)
    else:
        look_at = list(range(len(body)))
    not_records: set[int] = set()
    blank = 0
    for i, cells in zip(look_at, body.rows(look_at)):
        if all(c == "" or c is None or nz.is_blank(c) for c in cells):
            blank += 1
            not_records.add(i)
            continue
        reason = _classify(cells, identity_cols, data_cols, header_keys)
        if reason:
            not_records.add(i)
            skipped.append(SkippedRow(start + i, reason, _row_text(cells)))
            if reason == "summary":
                summary_rows.append(SummaryRow(
                    start + i, {k: _cell(cells, cols[0]) for k, cols in by_field.items()},
                    _row_text(cells)))
    nonblank_rows = len(body) - blank
    kept = [i for i in range(len(body)) if i not in not_records]
    records = body.select(kept)
    del body
    data: dict[str, Any] = {"source_row": [start + i for i in kept]}
    for key, col in zip(keys, first_cols):  # column by column: "" is an empty cell
        data[key] = records.records(col)
    everyone = list(range(len(records)))
    unlabelled_with_data = {c for c in unknown_cols if not label(c)
                            and len(_all_blank(records, [c], everyone)) < len(records)}
    below = [s for s in skipped if s.reason != "title"]
    n_records = len(data["source_row"])
    if nonblank_rows != n_records + len(below):  # pragma: no cover - the invariant itself
        raise RuntimeError(f"{path}: {nonblank_rows} rows below the header but {n_records} "
                           f"records + {len(below)} skipped")
    unknown = [label(c) for c in unknown_cols if label(c)]
    unknown += [f"{_column_letter(c)}列（无表头）" for c in sorted(unlabelled_with_data)]
    absent = [s.canonical for s in spec.fields if not s.required and s.key not in by_field
              and s.key != "seq"]
    return Table(path=path, kind=kind, sheet=sheet.name, header_row=header_index + 1,
                 columns=columns, unknown_columns=unknown, data=data, skipped=skipped,
                 encoding=encoding, header_rows=header_rows, delimiter=delimiter,
                 absent_optional=absent, summary_rows=summary_rows, blank_rows=blank,
                 rows_read=n_records)


def _has_content(grid: list[list[Any]]) -> bool:
    return any(not nz.is_blank(c) for row in grid for c in row)


def _body_has_content(body: _StoredRows) -> bool:
    every = list(range(len(body)))
    return len(_all_blank(body, range(body.width), every)) < len(body)


def read_table(path: Path, kind: str) -> Table:
    """Read one input table of ``kind`` ("targets", "plan" or "export") from xlsx or csv.

    The table is taken from the one visible sheet whose header holds every required column;
    a workbook with two such sheets is refused (which one is the export is not ours to guess),
    and hidden sheets are never read."""
    path = Path(path)
    spec = table_spec(kind)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    suffix = path.suffix.lower()
    encoding = delimiter = None
    if suffix == ".csv":
        sheet, encoding, delimiter = _read_csv_sheet(path, kind, columnar=COLUMNAR_CSV)
        sheets = [sheet]
    elif suffix == ".xlsx":
        sheets = _read_xlsx_sheets(path)
    else:
        raise InputFileError(path, f"unsupported file type {suffix!r} (expected .xlsx or .csv)")
    if not any(_has_content(s.grid) or (s.body is not None and _body_has_content(s.body))
               for s in sheets):
        raise InputFileError(path, "the file is empty (no cell has a value)")
    complete, partial, hidden = [], [], []
    required = {s.key for s in spec.fields if s.required}
    for sheet in sheets:
        header = _find_header(sheet.grid, kind)
        if not header:
            continue
        if not sheet.visible:
            hidden.append(sheet.name)
            continue
        fields = set(header[1].values())
        (complete if required <= fields else partial).append((sheet, header, len(fields)))
    ignored = [s.name for s in sheets if s.name not in {c[0].name for c in complete}]
    if len(complete) > 1:
        names = "、".join(repr(c[0].name) for c in complete)
        raise InputFileError(path, f"sheets {names} all hold a {KINDS[kind]}; "
                                   "keep the table on one sheet")
    if complete:
        sheet, header, _ = complete[0]
        table = _table_from_grid(path, kind, sheet, header, encoding, delimiter)
        table.ignored_sheets = [n for n in ignored if n is not None]
        return table
    if partial:
        sheet, header, _ = max(partial, key=lambda p: p[2])
        _table_from_grid(path, kind, sheet, header, encoding, delimiter)  # raises: names what is missing
    names = ", ".join(repr(s.name) for s in sheets if s.name is not None)
    canon = ", ".join(s.canonical for s in spec.fields if s.required)
    where = f" in any visible sheet ({names})" if names else ""
    note = (f"; sheet{'s' if len(hidden) > 1 else ''} {', '.join(map(repr, hidden))} "
            "hold such a table but are hidden: unhide the right one") if hidden else ""
    raise InputFileError(path, f"no header row with the expected columns ({canon}){where}{note}")
