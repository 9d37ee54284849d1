"""Ingestion: the landing area's tables read into typed frames (SPEC §2).

Cells are parsed column by column into the warehouse's types; a cell that cannot be read is
kept as empty and its field named in ``unreadable`` so that the quality rules report it. The
raw text of every cell is kept beside the parsed values, for the quarantine file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import normalize as nz
from .config import Province
from .errors import InputFileError
from .landing import Snapshot, sha256_of
from .readers import Table, read_table

TEXT_FIELDS = ("project_id", "county", "street", "address", "name", "ownership",
               "planned_content", "status", "review_status", "basic_items", "improve_items",
               "upgrade_items", "impl_officer", "sup_officer")
MONEY_FIELDS = ("planned_invest", "done_invest", "central_subsidy", "central_budget",
                "provincial_subsidy", "local_funds", "social_funds")
FUNDING_FIELDS = MONEY_FIELDS[2:]
DATE_FIELDS = ("start_date", "finish_date")
FACT_FIELDS = ("households", "buildings", "area", "built_year", "ownership", "planned_content")

#: columns of the parsed export frame, in warehouse order
EXPORT_COLUMNS = (
    ["source_file", "source_row", "project_id", "city", "county", "street", "address", "name",
     "plan_key", "households", "buildings", "area", "built_year", "ownership", "planned_content",
     "status", "start_date", "finish_date"]
    + [f"{m}_yuan" for m in MONEY_FIELDS]
    + ["basic_items", "improve_items", "upgrade_items", "elevators", "impl_officer", "impl_phone",
       "sup_officer", "sup_phone", "reported_at", "reported_date", "review_status", "reviewed_at",
       "unreadable", "raw"]
)


def plan_key(city: Any, county: Any, name: Any) -> str:
    """The matching key of SPEC §3: (市州, 所在县市区, 小区名称), NFKC, no whitespace."""
    return "|".join(nz.key(v) for v in (city, county, name))


def _column(records: list[dict[str, Any]], key: str) -> list[Any]:
    return [r.get(key) for r in records]


def _parse(values: list[Any], parser: Callable[[Any], tuple[Any, bool]]) -> tuple[list, list[bool]]:
    parsed = [parser(v) for v in values]
    return [p[0] for p in parsed], [p[1] for p in parsed]


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _city(value: Any, province: Province) -> str | None:
    name = nz.text(value)
    if name is None:
        return None
    return province.canonical_city(nz.key(name)) or name


# --------------------------------------------------------------------------- targets

@dataclass
class Targets:
    frame: pd.DataFrame       # city, city_order, target_count
    table: Table
    sha256: str


def load_targets(path: Path, province: Province) -> Targets:
    """附件1: one row per city with its number of communities."""
    table = read_table(path, "targets")
    rows, problems = [], []
    for rec in table.records:
        city = _city(rec.get("city"), province)
        count, ok = nz.integer(rec.get("target"))
        if city is None:
            continue
        if city not in province.city_names:
            problems.append(f"row {rec['source_row']}: {city!r} is not a city of {province.name}")
            continue
        if not ok or count is None or count < 0:
            problems.append(f"row {rec['source_row']}: 任务数 {rec.get('target')!r} of {city} "
                            "is not a whole number ≥ 0")
            continue
        rows.append((city, province.city(city).order, count))
    if problems:
        raise InputFileError(path, "; ".join(problems))
    if not rows:
        raise InputFileError(path, f"no target city of {province.name} in the file")
    frame = pd.DataFrame(rows, columns=["city", "city_order", "target_count"])
    dup = frame[frame.duplicated("city", keep=False)]
    if not dup.empty:
        raise InputFileError(path, f"a city is listed twice: {', '.join(sorted(set(dup.city)))}")
    return Targets(frame.sort_values("city_order").reset_index(drop=True), table, sha256_of(path))


# --------------------------------------------------------------------------- plan registry

@dataclass
class Plan:
    frame: pd.DataFrame
    table: Table
    sha256: str


def load_plan(path: Path, province: Province, target_cities: list[str]) -> Plan:
    """附件2: the communities each city filed, with the facts declared at filing (N2, N12)."""
    table = read_table(path, "plan")
    recs = table.records
    cities = [_city(r.get("city"), province) for r in recs]
    problems = [f"row {r['source_row']}: city {c!r} is not a target city"
                for r, c in zip(recs, cities) if c not in target_cities]
    if problems:
        raise InputFileError(path, "; ".join(problems[:10])
                             + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    households, _ = _parse(_column(recs, "households"), nz.integer)
    buildings, _ = _parse(_column(recs, "buildings"), nz.integer)
    area, _ = _parse(_column(recs, "area"), nz.decimal)
    built, _ = _parse(_column(recs, "built"), nz.year_of)
    impl = [nz.split_person_phone(v) for v in _column(recs, "impl_contact")]
    sup = [nz.split_person_phone(v) for v in _column(recs, "sup_contact")]
    frame = pd.DataFrame({
        "source_row": [r["source_row"] for r in recs],
        "city": cities,
        "county": [nz.text(v) for v in _column(recs, "county")],
        "street": [nz.text(v) for v in _column(recs, "street")],
        "address": [nz.text(v) for v in _column(recs, "address")],
        "name": [nz.text(v) for v in _column(recs, "name")],
        "households": pd.array(households, dtype="Int64"),
        "buildings": pd.array(buildings, dtype="Int64"),
        "area": pd.array([float(a) if a is not None else None for a in area], dtype="Float64"),
        "built_year": pd.array(built, dtype="Int64"),
        "ownership": [nz.text(v) for v in _column(recs, "ownership")],
        "planned_content": [nz.text(v) for v in _column(recs, "planned_content")],
        "impl_officer": [p[0] for p in impl],
        "impl_phone": [p[1] for p in impl],
        "sup_officer": [p[0] for p in sup],
        "sup_phone": [p[1] for p in sup],
    })
    missing_name = frame[frame["name"].isna() | frame["county"].isna()]
    if not missing_name.empty:
        rows = ", ".join(str(r) for r in missing_name.source_row.head(10))
        raise InputFileError(path, f"rows without 小区名称 or 所在县市区: {rows}")
    frame.insert(1, "plan_key", [plan_key(c, k, n) for c, k, n in
                                 zip(frame.city, frame.county, frame.name)])
    dup = frame[frame.duplicated("plan_key", keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        rows = ", ".join(str(r) for r in dup[dup.plan_key == first.plan_key].source_row)
        raise InputFileError(path, f"community {first.city} {first.county} {first['name']} is "
                                   f"filed more than once (rows {rows})")
    return Plan(frame, table, sha256_of(path))


# --------------------------------------------------------------------------- monthly export

@dataclass
class Export:
    frame: pd.DataFrame
    table: Table
    snapshot: Snapshot
    sha256: str


def _raw_json(rec: dict[str, Any], columns: dict[str, str]) -> str:
    out = {}
    for key, header in columns.items():
        v = rec.get(key)
        if nz.is_blank(v):
            continue
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out[header] = v.isoformat() if hasattr(v, "isoformat") else str(v)
    return json.dumps(out, ensure_ascii=False, sort_keys=False)


def load_export(snapshot: Snapshot, province: Province) -> Export:
    """One snapshot of the management system, one row per community record (N4)."""
    table = read_table(snapshot.path, "export")
    recs = table.records
    n = len(recs)
    unreadable: list[list[str]] = [[] for _ in range(n)]

    def parsed(key: str, parser: Callable[[Any], tuple[Any, bool]], label: str | None = None):
        values, oks = _parse(_column(recs, key), parser)
        for i, ok in enumerate(oks):
            if not ok:
                unreadable[i].append(label or key)
        return values

    cols: dict[str, Any] = {
        "source_file": [snapshot.name] * n,
        "source_row": [r["source_row"] for r in recs],
    }
    for key in TEXT_FIELDS:
        cols[key] = [nz.text(v) for v in _column(recs, key)]
    cols["city"] = [_city(v, province) for v in _column(recs, "city")]
    cols["plan_key"] = [plan_key(c, k, m) if c and k and m else None
                        for c, k, m in zip(cols["city"], cols["county"], cols["name"])]
    cols["households"] = pd.array(parsed("households", nz.integer), dtype="Int64")
    cols["buildings"] = pd.array(parsed("buildings", nz.integer), dtype="Int64")
    cols["area"] = pd.array([float(a) if a is not None else None
                             for a in parsed("area", nz.decimal)], dtype="Float64")
    cols["built_year"] = pd.array(parsed("built", nz.year_of, "built_year"), dtype="Int64")
    for key in DATE_FIELDS:
        cols[key] = [_iso(d) for d in parsed(key, nz.parse_date)]
    for key in MONEY_FIELDS:
        cols[f"{key}_yuan"] = pd.array(parsed(key, nz.money_yuan), dtype="Int64")
    cols["elevators"] = pd.array(parsed("elevators", nz.integer), dtype="Int64")
    cols["impl_phone"] = [nz.phone(v) for v in _column(recs, "impl_phone")]
    cols["sup_phone"] = [nz.phone(v) for v in _column(recs, "sup_phone")]
    reported = parsed("reported_at", nz.parse_datetime)
    cols["reported_at"] = [d.isoformat(sep=" ") if d else None for d in reported]
    cols["reported_date"] = [d.date().isoformat() if d else None for d in reported]
    reviewed = parsed("reviewed_at", nz.parse_datetime)
    cols["reviewed_at"] = [d.isoformat(sep=" ") if d else None for d in reviewed]
    cols["unreadable"] = [",".join(u) if u else None for u in unreadable]
    cols["raw"] = [_raw_json(r, table.columns) for r in recs]
    frame = pd.DataFrame({c: cols[c] for c in EXPORT_COLUMNS})
    return Export(frame, table, snapshot, sha256_of(snapshot.path))
