"""Ingestion: the landing area's tables read into typed frames (SPEC §2).

Cells are parsed column by column into the warehouse's types; a cell that cannot be read is
kept as empty and recorded in ``unreadable`` (a JSON object: field → the cell as written) so
that the quality rules name it and show it. The raw text of every cell is kept beside the
parsed values, for the quarantine file. What makes a whole file unusable raises
:class:`InputFileError` here, before anything is written: no records, no target city, a 合计 of
附件1 that its rows do not add up to, an export that says it was taken after the date in its
name.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from itertools import compress, repeat
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import pandas as pd

from . import fastpath
from . import normalize as nz
from . import paths
from .config import Province
from .errors import InputFileError
from .landing import Snapshot, sha256_of
from .limits import KEPT_CHARS, OUT_OF_RANGE, TOO_LONG, limits
from .readers import Table, _per_cell, header_aliases, read_table

TEXT_FIELDS = ("project_id", "county", "street", "address", "name", "ownership",
               "planned_content", "basic_items", "improve_items", "upgrade_items")
#: text fields compared as codes: all whitespace removed ("已 开工" is 已开工)
CODE_FIELDS = ("status", "review_status")
MONEY_FIELDS = ("planned_invest", "done_invest", "central_subsidy", "central_budget",
                "provincial_subsidy", "local_funds", "social_funds")
FUNDING_FIELDS = MONEY_FIELDS[2:]
DATE_FIELDS = ("start_date", "finish_date")
DATETIME_FIELDS = ("reported_at", "reviewed_at")
FACT_FIELDS = ("households", "buildings", "area", "built_year", "ownership", "planned_content")

#: parser of each numeric field of the export and the plan (field key → parser)
NUMBER_PARSERS: dict[str, Callable[[Any], tuple[Any, bool]]] = {
    "households": nz.households, "buildings": nz.buildings, "area": nz.area,
    "built": nz.year_of, "elevators": nz.elevators,
}
#: what a 合计 line may total, per kind of table: field → number parser with the field's units
SUMMED: dict[str, dict[str, Callable[[Any], tuple[Decimal | None, bool]]]] = {
    "targets": {"target": lambda v: nz.decimal(v, nz.COUNT_UNITS)},
    "plan": {"households": lambda v: nz.decimal(v, nz.HOUSEHOLD_UNITS),
             "buildings": lambda v: nz.decimal(v, nz.BUILDING_UNITS),
             "area": lambda v: nz.decimal(v, nz.AREA_UNITS)},
    "export": {"households": lambda v: nz.decimal(v, nz.HOUSEHOLD_UNITS),
               "buildings": lambda v: nz.decimal(v, nz.BUILDING_UNITS),
               "area": lambda v: nz.decimal(v, nz.AREA_UNITS),
               "elevators": lambda v: nz.decimal(v, nz.ELEVATOR_UNITS),
               **{m: (lambda v: nz.decimal(v, nz.MONEY_UNITS)) for m in MONEY_FIELDS}},
}

#: columns of the parsed export frame, in warehouse order
EXPORT_COLUMNS = (
    ["source_file", "source_row", "project_id", "city", "county", "street", "address", "name",
     "plan_key", "households", "buildings", "area", "built_year", "ownership", "planned_content",
     "status", "start_date", "finish_date"]
    + [f"{m}_yuan" for m in MONEY_FIELDS]
    + ["basic_items", "improve_items", "upgrade_items", "elevators", "impl_officer", "impl_phone",
       "sup_officer", "sup_phone", "reported_at", "reported_date", "review_status", "reviewed_at",
       "unreadable"]
)
#: columns of the parsed plan frame (plan_communities without programme_year)
PLAN_COLUMNS = ["source_file", "source_row", "plan_key", "city", "county", "street", "address",
                "name", "households", "buildings", "area", "built_year", "ownership",
                "planned_content", "impl_officer", "impl_phone", "sup_officer", "sup_phone",
                "unreadable"]

_TOTAL_WORDS = ("合计", "总计", "全省合计", "总合计", "全省")   # 全省: the published 附件1's total row
_COUNT_IN_TEXT = re.compile(r"共?(\d+)\s*(?:个|项|条)(?:小区|项目|记录)?")
_EXPORTED_ON = re.compile(r"(?:导出|下载|截止|截至)[^\d]{0,6}(\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2})")


def plan_key(city: Any, county: Any, name: Any) -> str:
    """The matching key of SPEC §3: (市州, 所在县市区, 小区名称), NFKC, no whitespace."""
    return "|".join(nz.key(v) for v in (city, county, name))


_T = TypeVar("_T")


def _mapped(fn: Callable[[Any], _T], values: list[Any]) -> list[_T]:
    """``[fn(v) for v in values]``, calling ``fn`` once per distinct cell: an export repeats its
    cities, counties, statuses, dates and officers thousands of times (``readers._per_cell``:
    1, 1.0 and True stay apart; ``fn`` must be pure and return immutable values)."""
    return _per_cell(fn, values)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _city(value: Any, province: Province) -> str | None:
    name = nz.text(value)
    if name is None:
        return None
    return province.canonical_city(nz.key(name)) or name


def _cell_text(value: Any) -> str:
    """A cell as the file shows it, for reports (dates ISO, 12.0 as 12)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class _Unreadable:
    """Per row, the fields whose non-empty cell could not be read, with the cell as written."""

    def __init__(self, n: int):
        self.rows: list[dict[str, str]] = [{} for _ in range(n)]

    def parse(self, table: Table, key: str,
              parser: Callable[[Any], tuple[Any, bool]], label: str | None = None) -> list[Any]:
        """The parsed cells of a field; a value beyond its bound (:mod:`.limits`) is left empty
        and recorded as out of range (it would overflow the columns and the sums)."""
        cells = table.column(key)
        bound = limits().of(key)
        out = []
        for i, (value, ok) in enumerate(_mapped(parser, cells)):
            if not ok:
                self.rows[i][label or key] = _cell_text(cells[i])
            elif bound is not None and value is not None and abs(value) > bound:
                self.rows[i][(label or key) + OUT_OF_RANGE] = _cell_text(cells[i])
                value = None
            out.append(value)
        return out

    def parse_array(self, table: Table, key: str, parser: Callable[[Any], tuple[Any, bool]],
                    dtype: str, fast: Callable[[Any], tuple[np.ndarray, np.ndarray]] | None,
                    label: str | None = None) -> Any:
        """:meth:`parse` as a pandas array of ``dtype`` ("Int64", "Float64"); for a column
        stored as Arrow strings, the cells ``fast`` reads (:mod:`.fastpath`) are read at once
        and only the others go through ``parser``."""
        array = fastpath.strings(table.data.get(key)) if fast is not None else None
        if array is None:
            return pd.array(self.parse(table, key, parser, label), dtype=dtype)
        import pyarrow as pa

        name, bound = label or key, limits().of(key)
        ok, values = fast(array)
        na = ~ok
        redo = np.flatnonzero(na & fastpath.valid(array))
        if len(redo):
            cells = array.take(pa.array(redo)).to_pylist()
            for i, cell, (value, good) in zip(redo.tolist(), cells, _mapped(parser, cells)):
                if not good:
                    self.rows[i][name] = _cell_text(cell)
                elif value is None:
                    continue
                elif bound is not None and abs(value) > bound:
                    self.rows[i][name + OUT_OF_RANGE] = _cell_text(cell)
                else:
                    values[i], na[i] = value, False
        if bound is not None:
            over = np.flatnonzero(ok & (np.abs(values) > bound))
            for i in over.tolist():
                self.rows[i][name + OUT_OF_RANGE] = _cell_text(array[i].as_py())
            na[over] = True
        if dtype == "Float64":
            return pd.arrays.FloatingArray(values.astype(np.float64), na)
        return pd.arrays.IntegerArray(values.astype(np.int64), na)

    def too_long(self, long_cells: list[tuple[int, str, int]], table: Table) -> None:
        for i, key, n in long_cells:
            self.rows[i][key + TOO_LONG] = f"{n}字符：{table.data[key][i]}"

    def column(self) -> list[str | None]:
        return [json.dumps(u, ensure_ascii=False, sort_keys=True) if u else None for u in self.rows]


# --------------------------------------------------------------------------- 合计 cross-check

def _tolerance(stated: Decimal) -> Decimal:
    """Half a unit of the stated total's last decimal (a total rounded to 0.01 may be off by
    0.005), and never less than a billionth of it (a float total from an Excel formula)."""
    exponent = stated.as_tuple().exponent
    half_unit = Decimal(5).scaleb(exponent - 1) if isinstance(exponent, int) else Decimal(0)
    return max(half_unit, abs(stated) * Decimal("1e-9"))


def _plain(value: Decimal) -> str:
    """A total as a person writes it: 140 for 140.0 (an xlsx cell) or 140.00, never 1.4E+2."""
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


def summary_checks(table: Table) -> list[dict[str, Any]]:
    """Each 合计 (total) line of ``table`` compared with the sum of its records: the count of
    records ("996个小区") and every summed column the line fills. 小计 lines (subtotals) are
    listed in the report but not checked."""
    summed = SUMMED.get(table.kind, {})
    labels = {s.key: s.canonical for s in header_aliases(table.kind)}
    checks: list[dict[str, Any]] = []
    for srow in table.summary_rows:
        keys = [nz.key(v) for v in srow.cells.values() if not nz.is_blank(v)]
        words = [nz.key(w) for w in srow.text.split()[:3]]
        if not any(k.startswith(_TOTAL_WORDS) for k in words + keys[:3]):
            continue
        count = _COUNT_IN_TEXT.search(srow.text.replace(" ", "")) if table.kind != "targets" else None
        if count:
            stated = int(count.group(1))
            checks.append({"row": srow.row, "field": "记录数", "stated": str(stated),
                           "computed": str(table.rows_read), "ok": stated == table.rows_read,
                           "unreadable": 0})
        for key, parser in summed.items():
            if key not in srow.cells or nz.is_blank(srow.cells[key]):
                continue
            stated_value, ok = parser(srow.cells[key])
            if stated_value is None:
                if not ok:
                    checks.append({"row": srow.row, "field": labels[key],
                                   "stated": _cell_text(srow.cells[key]), "computed": "",
                                   "ok": False, "unreadable": 0})
                continue
            total, unreadable = Decimal(0), 0
            for cell, times in _cell_counts(table, key):
                v, ok = parser(cell)
                if v is not None:
                    total += v * times
                elif not ok:
                    unreadable += times
            ok = abs(total - stated_value) <= _tolerance(stated_value)
            checks.append({"row": srow.row, "field": labels[key], "stated": _plain(stated_value),
                           "computed": _plain(total),
                           "ok": bool(ok), "unreadable": unreadable})
    return checks


def _cell_counts(table: Table, key: str) -> Iterator[tuple[Any, int]]:
    """A field's distinct cells with how many records hold each (a column stored as Arrow
    strings is counted by Arrow); every cell once with count 1 otherwise."""
    array = fastpath.strings(table.data.get(key))
    if array is None:
        return ((cell, 1) for cell in table.column(key))
    import pyarrow.compute as pc

    counts = pc.value_counts(array)
    return zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())


def table_meta(table: Table, checks: list[dict[str, Any]] | None = None,
               notes: list[str] | None = None) -> dict[str, Any]:
    """What the quality report says about a file as a whole (JSON-able)."""
    return {
        "file": table.path.name, "kind": table.kind, "sheet": table.sheet,
        "ignored_sheets": table.ignored_sheets, "encoding": table.encoding,
        "delimiter": table.delimiter, "header_row": table.header_row,
        "header_rows": table.header_rows, "columns": table.columns,
        "unknown_columns": table.unknown_columns, "absent_optional": table.absent_optional,
        "skipped": [{"row": s.row, "reason": s.reason, "text": s.text} for s in table.skipped],
        "blank_rows": table.blank_rows, "rows_read": table.rows_read,
        "summary_checks": checks if checks is not None else summary_checks(table),
        "notes": notes or [],
    }


# --------------------------------------------------------------------------- targets

@dataclass
class Targets:
    frame: pd.DataFrame       # city, city_order, target_count
    table: Table
    sha256: str


def load_targets(path: Path, province: Province) -> Targets:
    """附件1: one row per city with its number of communities; its 合计 must add up."""
    table = read_table(path, "targets")
    rows, problems = [], []
    for rec in table.records:
        city = _city(rec.get("city"), province)
        count, ok = nz.target_count(rec.get("target"))
        if city is None:
            problems.append(f"row {rec['source_row']}: 市州 is empty")
            continue
        if city not in province.city_names:
            problems.append(f"row {rec['source_row']}: {city!r} is not a city of {province.name}")
            continue
        if not ok or count is None or count < 0 or count > 1_000_000:
            problems.append(f"row {rec['source_row']}: 任务数 {rec.get('target')!r} of {city} "
                            "is not a whole number from 0 to 1,000,000")
            continue
        rows.append((city, province.city(city).order, count))
    if not rows and problems:
        raise InputFileError(path, f"no target city of {province.name} in the file ("
                                   + "; ".join(problems[:5]) + ")")
    if problems:
        raise InputFileError(path, "; ".join(problems))
    if not rows:
        raise InputFileError(path, f"no target city of {province.name} in the file")
    frame = pd.DataFrame(rows, columns=["city", "city_order", "target_count"])
    dup = frame[frame.duplicated("city", keep=False)]
    if not dup.empty:
        raise InputFileError(path, f"a city is listed twice: {', '.join(sorted(set(dup.city)))}")
    wrong = [c for c in summary_checks(table) if not c["ok"]]
    if wrong:
        c = wrong[0]
        raise InputFileError(path, f"the 合计 on row {c['row']} says {c['field']} {c['stated']} "
                                   f"but the cities add up to {c['computed']}")
    return Targets(frame.sort_values("city_order").reset_index(drop=True), table, sha256_of(path))


# --------------------------------------------------------------------------- plan registry

@dataclass
class Plan:
    frame: pd.DataFrame
    table: Table
    sha256: str
    summary: list[dict[str, Any]] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return table_meta(self.table, self.summary)

    @property
    def name(self) -> str:
        return self.table.path.name

    @property
    def rows(self) -> int:
        return len(self.frame)

    def write_frame(self, target: Path) -> None:
        self.frame.to_parquet(target, index=False)


@dataclass
class CachedPlan:
    """A plan registry parsed by an earlier run of the same code (see :func:`load_plan_cached`):
    the same frame (read from its parquet file when first used: the ingest task only copies
    the file), file hash and report metadata as :class:`Plan`."""
    frame_file: Path
    sha256: str
    name: str
    metadata: dict[str, Any]

    def meta(self) -> dict[str, Any]:
        return self.metadata

    @cached_property
    def frame(self) -> pd.DataFrame:
        return pd.read_parquet(self.frame_file)

    @property
    def rows(self) -> int:
        import pyarrow.parquet as pq

        return pq.read_metadata(self.frame_file).num_rows

    def write_frame(self, target: Path) -> None:
        """The parquet file :class:`Plan`'s ``write_frame`` would write (the cache entry is
        one, of the same frame)."""
        shutil.copyfile(self.frame_file, target)


@lru_cache(maxsize=None)
def _code_fingerprint() -> str:
    """What parsing depends on besides the file: this code and the reading configuration."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for p in [here / "ingest.py", here / "readers.py", here / "normalize.py",
              paths.config_dir() / "header_aliases.yaml",
              *sorted((paths.config_dir() / "provinces").glob("*.yaml"))]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@contextmanager
def _cache_entry_lock(cache_dir: Path, stem: str,
                      while_waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """One parse per cache entry at a time: a second process (``make run``'s prewarm and the
    ingest task, two backfill runs) waits for the first and then reads its result.
    ``while_waiting`` is called (once) when the entry is held by another process, before
    waiting for it: work for the idle moment."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{stem}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if while_waiting is not None:
                while_waiting()
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomic(target: Path, write: Callable[[Path], None]) -> None:
    """``write(path)`` to a temporary file beside ``target``, then renamed onto it."""
    tmp = target.with_suffix(".tmp")
    write(tmp)
    tmp.replace(target)


def load_plan_cached(path: Path, province: Province, target_cities: list[str],
                     cache_dir: Path | None,
                     while_waiting: Callable[[], None] | None = None) -> Plan | CachedPlan:
    """:func:`load_plan`, reusing the parse of an identical plan file by identical code.

    The plan registry is filed once a year but read by every month's run (at national scale,
    300,000 rows: a large share of a month's reading time). The parsed frame is kept in
    ``cache_dir`` under a key of the file's SHA-256, the target cities and a fingerprint of the
    parsing code and configuration, so any change to either parses again; the result is the
    same frame either way."""
    if cache_dir is None:
        return load_plan(path, province, target_cities)
    sha = sha256_of(path)
    key = hashlib.sha256("|".join([sha, _code_fingerprint(), *target_cities]).encode()).hexdigest()
    stem = f"plan-{key[:32]}"
    frame_file, meta_file = cache_dir / f"{stem}.parquet", cache_dir / f"{stem}.json"
    with _cache_entry_lock(cache_dir, stem, while_waiting):
        if frame_file.exists() and meta_file.exists():
            meta = json.loads(meta_file.read_text("utf-8"))
            return CachedPlan(frame_file, sha, meta["name"], meta["meta"])
        plan = load_plan(path, province, target_cities)
        _write_atomic(frame_file, plan.write_frame)
        meta_file.write_text(json.dumps({"name": plan.name, "meta": plan.meta()},
                                        ensure_ascii=False, default=str), "utf-8")
    return plan


def load_plan(path: Path, province: Province, target_cities: list[str]) -> Plan:
    """附件2: the communities each city filed, with the facts declared at filing (N2, N12).

    The plan is the yardstick of every figure, so what makes it ambiguous refuses it: a city
    that is not a target city, a row without 所在县市区 or 小区名称, a community filed twice. A
    declared fact that cannot be read is kept empty and reported (PLAN_VALUE_UNREADABLE)."""
    table = read_table(path, "plan")
    n = table.rows_read
    if not n:
        raise InputFileError(path, f"the plan registry has no rows below its header (row {table.header_row})")
    cities = [_city(v, province) for v in table.column("city")]
    problems = [f"row {r}: city {c!r} is not a target city"
                for r, c in zip(table.column("source_row"), cities) if c not in target_cities]
    if problems:
        raise InputFileError(path, "; ".join(problems[:10])
                             + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    unreadable = _Unreadable(n)
    # each column a pandas column as soon as it is parsed (see load_export)
    columns: dict[str, Any] = {
        "source_file": pd.Series([path.name] * n),
        "source_row": pd.Series(table.column("source_row")),
        "city": pd.Series(cities),
    }
    del cities
    for key in ("county", "street", "address", "name"):
        columns[key] = pd.Series([nz.text(v) for v in table.column(key)])
    columns["households"] = pd.array(unreadable.parse(table, "households", nz.households),
                                     dtype="Int64")
    columns["buildings"] = pd.array(unreadable.parse(table, "buildings", nz.buildings), dtype="Int64")
    columns["area"] = pd.array(unreadable.parse(table, "area", nz.area), dtype="Float64")
    columns["built_year"] = pd.array(unreadable.parse(table, "built", nz.year_of, "built_year"),
                                     dtype="Int64")
    for key in ("ownership", "planned_content"):
        columns[key] = pd.Series([nz.text(v) for v in table.column(key)])
    for role in ("impl", "sup"):
        people = [nz.split_person_phone(v) for v in table.column(f"{role}_contact")]
        columns[f"{role}_officer"] = pd.Series([p[0] for p in people])
        columns[f"{role}_phone"] = pd.Series([p[1] for p in people])
        del people
    frame = pd.DataFrame(columns)
    del columns
    frame["unreadable"] = unreadable.column()
    missing_name = frame[frame["name"].isna() | frame["county"].isna()]
    if not missing_name.empty:
        rows = ", ".join(str(r) for r in missing_name.source_row.head(10))
        raise InputFileError(path, f"rows without 小区名称 or 所在县市区: {rows}")
    frame["plan_key"] = [plan_key(c, k, n) for c, k, n in zip(frame.city, frame.county, frame.name)]
    dup = frame[frame.duplicated("plan_key", keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        rows = ", ".join(str(r) for r in dup[dup.plan_key == first.plan_key].source_row)
        raise InputFileError(path, f"community {first.city} {first.county} {first['name']} is "
                                   f"filed more than once (rows {rows})")
    return Plan(frame[PLAN_COLUMNS], table, sha256_of(path), summary_checks(table))


# --------------------------------------------------------------------------- monthly export

@dataclass
class Export:
    """A parsed snapshot: the frame (:data:`EXPORT_COLUMNS`) and, apart, its cells as written
    (``cells``: :func:`_raw_cells`, for the quarantined rows' raw lines)."""
    frame: pd.DataFrame
    table: Table
    snapshot: Snapshot
    sha256: str
    cells: Any = None
    summary: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return table_meta(self.table, self.summary, self.notes)

    @property
    def rows_read(self) -> int:
        return self.table.rows_read

    @property
    def header_row(self) -> int:
        return self.table.header_row

    def raw_lines(self, rows: Any) -> list[str]:
        """The raw JSON lines of the records where ``rows`` (a boolean mask) is True."""
        import pyarrow as pa

        return raw_lines(self.cells.filter(pa.array(np.asarray(rows, dtype=bool))))

    def write_frame(self, target: Path) -> None:
        """The frame and the raw cells in one parquet file (the cells' columns after the frame's:
        :func:`staged_frame` and :func:`staged_raw_lines` read them apart)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.frame, preserve_index=False)
        if self.cells is not None:
            for name in self.cells.column_names:
                table = table.append_column(name, self.cells.column(name))
        pq.write_table(table, target)


@dataclass
class CachedExport:
    """A snapshot parsed by an earlier process of the same code (:func:`load_export_cached`):
    the same frame (its parquet file), file hash and report metadata as :class:`Export`."""
    frame_file: Path
    snapshot: Snapshot
    sha256: str
    metadata: dict[str, Any]

    def meta(self) -> dict[str, Any]:
        return self.metadata

    @property
    def rows_read(self) -> int:
        return int(self.metadata["rows_read"])

    @property
    def header_row(self) -> int:
        return int(self.metadata["header_row"])

    @property
    def frame(self) -> pd.DataFrame:
        return staged_frame(self.frame_file)

    def raw_lines(self, rows: Any) -> list[str]:
        return staged_raw_lines(self.frame_file, rows)

    def write_frame(self, target: Path) -> None:
        shutil.copyfile(self.frame_file, target)


def staged_frame(path: Path) -> pd.DataFrame:
    """The export frame of a file :meth:`Export.write_frame` wrote, without the raw cells."""
    import pyarrow.parquet as pq

    columns = [c for c in pq.read_schema(path).names if not c.startswith(RAW_PREFIX)]
    return pd.read_parquet(path, columns=columns)


def staged_raw_lines(path: Path, rows: Any) -> list[str]:
    """The raw JSON lines (:func:`raw_lines`) of the records of a file :meth:`Export.write_frame`
    wrote where ``rows`` (a boolean mask) is True, read a batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    names = [c for c in file.schema_arrow.names if c.startswith(RAW_PREFIX)]
    rows = np.asarray(rows, dtype=bool)
    if not names:
        return ["{}"] * int(rows.sum())
    kept, first = [], 0
    for batch in file.iter_batches(batch_size=50_000, columns=names):
        wanted = rows[first:first + batch.num_rows]
        first += batch.num_rows
        if wanted.any():
            kept.append(pa.Table.from_batches([batch]).filter(pa.array(wanted)))
    if not kept:
        return []
    return raw_lines(pa.concat_tables(kept))


#: parsed exports kept in a cache folder (the newest; each month's snapshot and its reruns)
EXPORT_CACHE_ENTRIES = 4


def load_export_cached(snapshot: Snapshot, province: Province, target_cities: list[str],
                       cache_dir: Path | None,
                       while_waiting: Callable[[], None] | None = None) -> Export | CachedExport:
    """:func:`load_export`, reusing the parse of the same snapshot by the same code.

    ``make run`` parses the month's snapshot in a second process while Airflow starts (the
    prewarm, :func:`supervision.pipeline.prewarm`), so the ingest task finds it parsed; reruns
    and backfills of a month read it again. The key is the file's SHA-256, its name and date,
    the province, the target cities and the parsing code's fingerprint; a refused file is
    never cached (its error is raised again by whoever reads it). The newest
    :data:`EXPORT_CACHE_ENTRIES` entries are kept. ``while_waiting``: see
    :func:`_cache_entry_lock`."""
    if cache_dir is None:
        return load_export(snapshot, province, target_cities)
    sha = sha256_of(snapshot.path)
    key = hashlib.sha256("|".join([sha, snapshot.name, snapshot.taken_on.isoformat(),
                                   _code_fingerprint(), province.name, *target_cities])
                         .encode()).hexdigest()
    stem = f"export-{key[:32]}"
    frame_file, meta_file = cache_dir / f"{stem}.parquet", cache_dir / f"{stem}.json"
    with _cache_entry_lock(cache_dir, stem, while_waiting):
        if frame_file.exists() and meta_file.exists():
            os.utime(meta_file)  # most recently used
            return CachedExport(frame_file, snapshot, sha,
                                json.loads(meta_file.read_text("utf-8")))
        export = load_export(snapshot, province, target_cities)
        _write_atomic(frame_file, export.write_frame)
        meta_file.write_text(json.dumps(export.meta(), ensure_ascii=False, default=str), "utf-8")
    _evict(cache_dir, "export-", EXPORT_CACHE_ENTRIES)
    return export


def _evict(cache_dir: Path, prefix: str, keep: int) -> None:
    entries = sorted(cache_dir.glob(f"{prefix}*.json"), key=lambda p: p.stat().st_mtime,
                     reverse=True)
    for meta in entries[keep:]:
        for suffix in (".parquet", ".json", ".lock"):
            meta.with_suffix(suffix).unlink(missing_ok=True)


def _cut_long_cells(table: Table) -> list[tuple[int, str, int]]:
    """Cells longer than ``max_cell_chars``: cut to their first characters in the table (so a
    1 MB address reaches neither the warehouse nor a report), as (record index, field, length)."""
    limit = limits().max_cell_chars
    out = []
    for key, cells in list(table.data.items()):
        if key == "source_row":
            continue
        if not isinstance(cells, list):  # a column stored as Arrow (readers._StoredRows)
            import pyarrow as pa
            import pyarrow.compute as pc

            if not pa.types.is_string(cells.type) or (
                    pc.max(pc.utf8_length(cells)).as_py() or 0) <= limit:
                continue
            cells = table.data[key] = cells.to_pylist()
        # the longest text cell of the column, at C speed (a national export: 10 million cells)
        texts = compress(cells, map(isinstance, cells, repeat(str)))
        if max(map(len, texts), default=0) <= limit:
            continue
        for i, v in enumerate(cells):
            if v.__class__ is str and len(v) > limit:
                out.append((i, key, len(v)))
                cells[i] = v[:KEPT_CHARS] + "…"
    return out


#: the prefix of the staged export's raw-cell columns, ``raw:<position>:<header>`` (text as
#: written; the raw JSON lines of the quarantined rows are made from them: :func:`raw_lines`)
RAW_PREFIX = "raw:"


def _raw_cells(table: Table) -> pa.Table:
    """Each column's cells as the raw JSON lines will show them, one Arrow string column a
    column of the file (named ``raw:<position>:<header>``): columns stored as Arrow strings as
    they are (a csv's: no copy), others as text (:func:`_raw_cell`; null: left out). Only the
    rows quarantined later need their lines, so the JSON is written then (:func:`raw_lines`)."""
    import pyarrow as pa

    names, arrays = [], []
    for i, (key, header) in enumerate(table.columns.items()):
        array = fastpath.strings(table.data.get(key))
        if array is None:
            cells = table.data.get(key)
            values = ([None] * table.rows_read if cells is None else cells
                      if isinstance(cells, list) else cells.to_pylist())
            array = pa.array([_raw_cell(v) for v in values], pa.string())
        names.append(f"{RAW_PREFIX}{i}:{header}")
        arrays.append(array)
    return pa.table(arrays, names=names) if names else pa.table({})


def raw_lines(cells: Any) -> list[str]:
    """The raw JSON line of each row of ``cells`` (:func:`_raw_cells`' columns, all rows or the
    quarantined ones): its non-blank cells as written, under the file's own headers, as
    ``json.dumps`` writes the dict. Vectorised (:func:`fastpath.raw_fragments`) unless two
    headers are the same (the dict keeps one of them: the record-by-record reference)."""
    names = [n for n in cells.column_names if n.startswith(RAW_PREFIX)]
    headers = [n.split(":", 2)[2] for n in names]
    rows = cells.num_rows
    if not headers:
        return ["{}"] * rows
    if fastpath.ENABLED and len(set(headers)) == len(headers):
        fragments = [fastpath.raw_fragments(cells.column(n).combine_chunks(), header, _dumps,
                                            _kept_as_raw) for n, header in zip(names, headers)]
        return fastpath.join_objects(fragments).to_pylist()
    columns = [cells.column(n).to_pylist() for n in names]
    out = []
    for values in zip(*columns):
        kept = {}
        for header, v in zip(headers, values):
            if v is not None and _kept_as_raw(v):
                kept[header] = v
        out.append(json.dumps(kept, ensure_ascii=False))
    return out


def _dumps(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _kept_as_raw(text: str) -> bool:
    return bool(text.strip())


def _raw_cell(v: Any) -> str | None:
    """A cell as the raw JSON keeps it: text as written unless only spaces, other cells as
    the file shows them; None: left out."""
    if v is None:
        return None
    if v.__class__ is str:
        return v if v.strip() else None
    return None if nz.is_blank(v) else _cell_text(v)


def _officers(table: Table, officer: str, phone: str) -> tuple[pd.Series, pd.Series]:
    """The officer's name and phone: a phone written into the name cell ("张三 13812345678")
    is split off, and used when the phone cell is empty."""
    names_in, phones_in = (fastpath.strings(table.data.get(k)) for k in (officer, phone))
    if names_in is None or phones_in is None:
        names, phones = [], []
        split = _mapped(nz.split_person_phone, table.column(officer))
        numbers = _mapped(nz.phone, table.column(phone))
        for (name, embedded), number in zip(split, numbers):
            names.append(name)
            phones.append(number if number is not None else embedded)
        return pd.Series(names), pd.Series(phones)
    # a plain name without digits is itself and embeds no phone; a plain number is itself
    redo_name = ~fastpath.names_without_digits(names_in) & fastpath.valid(names_in)
    split = _mapped(nz.split_person_phone, _cells(names_in, redo_name))
    names = fastpath.replaced(names_in, redo_name, [name for name, _ in split])
    redo_phone = ~fastpath.phones(phones_in) & fastpath.valid(phones_in)
    numbers = fastpath.replaced(phones_in, redo_phone,
                                _mapped(nz.phone, _cells(phones_in, redo_phone)))
    embedded = {i: number for i, (_, number) in zip(np.flatnonzero(redo_name).tolist(), split)
                if number is not None}
    if embedded:  # used where the phone cell is empty
        empty = ~fastpath.valid(numbers)
        use = [i for i in embedded if empty[i]]
        where = np.zeros(len(numbers), dtype=bool)
        where[use] = True
        numbers = fastpath.replaced(numbers, where, [embedded[i] for i in use])
    return fastpath.series(names), fastpath.series(numbers)


def _cells(array: Any, where: np.ndarray) -> list[Any]:
    """The cells of an Arrow array at the positions ``where`` holds True, as Python values."""
    import pyarrow as pa

    return array.filter(pa.array(where)).to_pylist()


def _moments(unreadable: _Unreadable, table: Table, key: str,
             with_date: bool) -> tuple[pd.Series, pd.Series | None]:
    """A date-and-time field as ISO text ("2020-06-08 16:04:31") and, ``with_date``, its day;
    a cell already written that way is its own ISO text."""
    array = fastpath.strings(table.data.get(key))
    if array is None:
        moments = unreadable.parse(table, key, nz.parse_datetime)
        return (pd.Series([d.isoformat(sep=" ") if d else None for d in moments]),
                pd.Series([d.date().isoformat() if d else None for d in moments])
                if with_date else None)
    import pyarrow as pa
    import pyarrow.compute as pc

    plain = fastpath.datetimes(array)
    redo = np.flatnonzero(~plain & fastpath.valid(array))
    stamps = days = None
    if len(redo):
        cells = array.take(pa.array(redo)).to_pylist()
        parsed = []
        for i, cell, (moment, ok) in zip(redo.tolist(), cells,
                                         _mapped(nz.parse_datetime, cells)):
            if not ok:
                unreadable.rows[i][key] = _cell_text(cell)
            parsed.append(moment)
        mask = pa.array(~plain & fastpath.valid(array))
        stamps = pc.replace_with_mask(array, mask, pa.array(
            [d.isoformat(sep=" ") if d else None for d in parsed], pa.string()))
        if with_date:
            days = pc.replace_with_mask(pc.utf8_slice_codeunits(array, 0, 10), mask, pa.array(
                [d.date().isoformat() if d else None for d in parsed], pa.string()))
    else:
        stamps = array
    if with_date and days is None:
        days = pc.utf8_slice_codeunits(array, 0, 10)
    return fastpath.series(stamps), fastpath.series(days) if with_date else None


def _per_distinct(table: Table, key: str, fn: Callable[[Any], str | None]) -> Any:
    """``fn`` of each cell of a field (text or None), evaluated once per distinct cell
    (``fn(None)`` must be None): an Arrow array for a column stored as Arrow strings, else a
    list."""
    array = fastpath.strings(table.data.get(key))
    if array is None:
        return _mapped(fn, table.column(key))
    return fastpath.per_distinct(array, fn)


def _column(values: Any) -> pd.Series:
    return fastpath.series(values) if not isinstance(values, list) else pd.Series(values)


def _plan_keys(city: Any, county: Any, name: Any) -> pd.Series:
    """Each record's plan key, None when its city, county or name is empty (:func:`plan_key`)."""
    import pyarrow as pa

    if not fastpath.ENABLED:
        return pd.Series([plan_key(c, k, m) if c and k and m else None
                          for c, k, m in zip(city, county, name)])
    parts = [v if isinstance(v, pa.Array) else pa.array(v, pa.string())
             for v in (city, county, name)]
    import pyarrow.compute as pc

    clean = np.ones(len(parts[0]), dtype=bool)
    keys = []
    for part in parts:
        ok, key = fastpath.keys(part)
        clean &= ok | ~fastpath.valid(part)
        keys.append(key)
    joined = pc.binary_join_element_wise(*keys, "|")    # null when one of them is empty
    redo = ~clean & fastpath.valid(joined)
    if redo.any():
        c, k, m = (_cells(p, redo) for p in parts)
        joined = fastpath.replaced(joined, redo, [plan_key(*t) for t in zip(c, k, m)])
    return fastpath.series(joined)


def stated_export_date(table: Table) -> tuple[date, int] | None:
    """The export date a title row states (导出时间：2020-07-01 07:30), with its row."""
    for s in table.skipped:
        if s.reason != "title":
            continue
        m = _EXPORTED_ON.search(s.text)
        if m:
            d, ok = nz.parse_date(re.sub(r"\s+", "", m.group(1)))
            if d:
                return d, s.row
    return None


def load_export(snapshot: Snapshot, province: Province,
                target_cities: list[str] | None = None) -> Export:
    """One snapshot of the management system, one row per community record (N4).

    Refused here (file-level, SPEC §4): no records; no row of a target city (with
    ``target_cities``) — the wrong province's or the wrong programme's export; a title row
    saying the export was taken after the date in the file's name (the snapshot would hold data
    from after its cut-off)."""
    table = read_table(snapshot.path, "export")
    n = table.rows_read
    if n == 0:
        raise InputFileError(snapshot.path, f"the export has no records below its header "
                                            f"(row {table.header_row})")
    notes: list[str] = []
    long_cells = _cut_long_cells(table)
    stated = stated_export_date(table)
    if stated and stated[0] > snapshot.taken_on:
        raise InputFileError(
            snapshot.path, f"row {stated[1]} says the export was taken on {stated[0].isoformat()}, "
                           f"after the snapshot date {snapshot.taken_on.isoformat()} in its name; "
                           "rename the file to the date it was taken")
    if stated and stated[0] < snapshot.taken_on:
        notes.append(f"第{stated[1]}行所记导出日期 {stated[0].isoformat()} 早于文件名中的快照日期 "
                     f"{snapshot.taken_on.isoformat()}：数据可能比快照日期旧。")
    unreadable = _Unreadable(n)
    unreadable.too_long(long_cells, table)
    # each column becomes a pandas column as soon as it is parsed, and its Python values go
    # (a national export's cells are never all Python objects at once)
    cols: dict[str, Any] = {
        "source_file": pd.Series([snapshot.name] * n),
        "source_row": pd.Series(table.column("source_row")),
    }
    kept: dict[str, Any] = {}  # city, county and name as parsed, for the plan key
    for key in TEXT_FIELDS:  # a name, an address or an id is seldom repeated: nothing to share
        array = fastpath.strings(table.data.get(key))
        if array is not None:
            kept[key] = fastpath.text(array, _mapped)
            cols[key] = fastpath.series(kept[key])
            continue
        unique = key in ("project_id", "name", "address")
        values = ([nz.text(v) for v in table.column(key)] if unique
                  else _mapped(nz.text, table.column(key)))
        kept[key], cols[key] = values, pd.Series(values)  # not stored as Arrow text
    for key in CODE_FIELDS:
        cols[key] = _column(_per_distinct(table, key, lambda v: nz.key(v) or None))
    kept["city"] = _per_distinct(table, "city", lambda v: _city(v, province))
    cols["city"] = _column(kept["city"])
    if target_cities is not None and not set(cols["city"].dropna().unique()) & set(target_cities):
        found = list(dict.fromkeys(c for c in cols["city"] if isinstance(c, str)))
        raise InputFileError(
            snapshot.path, f"no target city of {province.name} in column "
                           f"{table.columns['city']} (found: {', '.join(found[:8]) or 'nothing'}"
                           f"{' …' if len(found) > 8 else ''}); is it another province's export?")
    cols["plan_key"] = _plan_keys(kept["city"], kept["county"], kept["name"])
    del kept
    cols["households"] = unreadable.parse_array(table, "households", nz.households, "Int64",
                                                fastpath.integers)
    cols["buildings"] = unreadable.parse_array(table, "buildings", nz.buildings, "Int64",
                                               fastpath.integers)
    cols["area"] = unreadable.parse_array(table, "area", nz.area, "Float64", fastpath.areas)
    cols["built_year"] = pd.array(unreadable.parse(table, "built", nz.year_of, "built_year"),
                                  dtype="Int64")
    for key in DATE_FIELDS:
        cols[key] = pd.Series([_iso(d) for d in unreadable.parse(table, key, nz.parse_date)])
    for key in MONEY_FIELDS:
        cols[f"{key}_yuan"] = unreadable.parse_array(table, key, nz.money_yuan, "Int64",
                                                     fastpath.money_yuan)
    cols["elevators"] = unreadable.parse_array(table, "elevators", nz.elevators, "Int64",
                                               fastpath.integers)
    for role in ("impl", "sup"):
        cols[f"{role}_officer"], cols[f"{role}_phone"] = _officers(
            table, f"{role}_officer", f"{role}_phone")
    cols["reported_at"], cols["reported_date"] = _moments(unreadable, table, "reported_at",
                                                          with_date=True)
    cols["reviewed_at"], _ = _moments(unreadable, table, "reviewed_at", with_date=False)
    cols["unreadable"] = pd.Series(unreadable.column())
    del unreadable
    cells = _raw_cells(table)
    checks = summary_checks(table)
    table.release()  # every cell is parsed: the table keeps the file's shape, not its cells
    frame = pd.DataFrame({c: cols.pop(c) for c in EXPORT_COLUMNS})
    return Export(frame, table, snapshot, sha256_of(snapshot.path), cells, checks, notes)
