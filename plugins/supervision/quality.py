"""Data quality of one month's export (SPEC §4): a Great Expectations suite built in code, and
the checks GX cannot express (the plan registry, last month, the 合计 line) run beside it.

Every finding names a rule (``include/config/quality_rules.yaml``), the source file and row, the
field and what was found there. A record with a blocking finding is quarantined: it stays in the
warehouse and in the quarantine file with its rule ids and counts as ``DATA_INVALID`` for its
city. Nothing is dropped: rows read = rows accepted + rows quarantined, checked and logged on
every run. What each rule checks and reports is listed in ``docs/data-contract.md``.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import normalize as nz
from . import paths
from .ingest import DATE_FIELDS, DATETIME_FIELDS, FUNDING_FIELDS, MONEY_FIELDS
from .limits import OUT_OF_RANGE, TOO_LONG

log = logging.getLogger(__name__)

STATUSES = ("未开工", "已开工", "已完工")
STATUS_ORDER = {s: i for i, s in enumerate(STATUSES)}
REVIEWED = "已审核"
SEVERITIES = ("blocking", "warning")
SCOPES = ("row", "plan_row", "city", "file")
FIELD_LABELS = {
    "project_id": "项目编号", "city": "市州", "county": "所在县市区", "name": "小区名称",
    "status": "改造状态", "review_status": "审核状态",
    "start_date": "开工日期", "finish_date": "完工日期", "reported_at": "填报时间",
    "reviewed_at": "审核时间", "planned_invest": "计划总投资", "done_invest": "累计完成投资",
    "central_subsidy": "中央补助资金", "central_budget": "中央预算内资金",
    "provincial_subsidy": "省级补助资金", "local_funds": "市县配套资金",
    "social_funds": "社会及居民出资", "households": "涉及户数", "buildings": "小区内楼栋数",
    "area": "总建筑面积", "built_year": "建成时间", "ownership": "房屋性质",
    "planned_content": "计划改造内容", "elevators": "加装电梯", "impl_phone": "实施责任人电话",
    "sup_phone": "监管责任人电话",
    "street": "所在街道及社区", "address": "小区地址", "built": "建成时间",
    "basic_items": "基础类改造内容", "improve_items": "完善类改造内容", "upgrade_items": "提升类改造内容",
    "impl_officer": "实施责任人", "sup_officer": "监管责任人", "seq": "序号",
}
FINDING_COLUMNS = ["source_file", "source_row", "project_id", "city", "rule_id", "severity",
                   "field", "value"]
ALL_DATE_FIELDS = (*DATE_FIELDS, *DATETIME_FIELDS)
FACT_NUMBERS = ("households", "buildings", "area", "built_year", "elevators")
EMPTY = "（空）"


class QualityInvariantError(AssertionError):
    """Rows read ≠ rows accepted + rows quarantined: a record would have been lost."""


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str          # "blocking" | "warning"
    engine: str            # "gx" | "plain"
    scope: str             # "row" | "plan_row" | "city" | "file"
    field: str
    description: str

    @property
    def blocking(self) -> bool:
        return self.severity == "blocking"


@dataclass(frozen=True)
class RuleBook:
    rules: dict[str, Rule]
    thresholds: dict[str, Any]

    def __getitem__(self, rule_id: str) -> Rule:
        return self.rules[rule_id]


@lru_cache(maxsize=None)
def load_rules(config_dir: Path | None = None) -> RuleBook:
    path = (config_dir or paths.config_dir()) / "quality_rules.yaml"
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    rules = {}
    for r in data["rules"]:
        rule = Rule(r["id"], r["severity"], r["engine"], r.get("scope", "row"), r["field"],
                    r["description"])
        if rule.severity not in SEVERITIES:
            raise ValueError(f"{path}: rule {rule.id} has unknown severity {rule.severity!r}")
        if rule.scope not in SCOPES:
            raise ValueError(f"{path}: rule {rule.id} has unknown scope {rule.scope!r}")
        if rule.id in rules:
            raise ValueError(f"{path}: rule {rule.id} is listed twice")
        if rule.blocking and rule.scope != "row":
            raise ValueError(f"{path}: rule {rule.id} is blocking but not about a record")
        rules[rule.id] = rule
    return RuleBook(rules, dict(data.get("thresholds", {})))


@dataclass
class QualityResult:
    findings: pd.DataFrame          # FINDING_COLUMNS, one row per (row, rule, field)
    valid: pd.Series                # bool per export row (index aligned with the export frame)
    gx_result: dict[str, Any]       # the GX validation result, volatile fields removed
    rows_read: int

    @property
    def rows_quarantined(self) -> int:
        return int((~self.valid).sum())

    @property
    def rows_accepted(self) -> int:
        return int(self.valid.sum())


# --------------------------------------------------------------------------- formatting

def wan(yuan: Any) -> str:
    """Integer 元 as 万元 text without trailing zeros (1234500 → 123.45)."""
    if nz.is_blank(yuan):
        return EMPTY
    d = (Decimal(int(yuan)) / 10000).normalize()
    return f"{d:f}"


def _text(value: Any) -> str | None:
    if nz.is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _shown(value: Any) -> str:
    return _text(value) or EMPTY


def _unreadable(cell: Any) -> dict[str, str]:
    if nz.is_blank(cell) or not cell:
        return {}
    return json.loads(cell)


def is_in(values: pd.Series, keys: set[Any]) -> pd.Series:
    """``values.isin(keys)`` for a text column, by set look-up: pandas first makes a pyarrow
    scalar of each key (half a second for a year's 30,000 plan keys). As with ``isin``, a
    missing value is in ``keys`` when ``keys`` holds a missing value."""
    if not isinstance(values.dtype, pd.StringDtype):
        return values.isin(keys)
    cells = values.to_numpy(dtype=object, na_value=None)
    found = np.fromiter((v in keys for v in cells), dtype=bool, count=len(cells))
    missing = values.isna().to_numpy(dtype=bool)
    if missing.any():
        found[missing] = any(nz.is_blank(k) for k in keys if not isinstance(k, str))
    return pd.Series(found, index=values.index)


# --------------------------------------------------------------------------- the GX suite

#: rules that look at several columns at once: the columns, by rule. GX checks one derived
#: column per rule (the worst value, or the list of unreadable fields); the findings name each
#: column that broke the rule.
MULTI_FIELD = {
    "DATE_AFTER_SNAPSHOT": ALL_DATE_FIELDS,
    "DATE_UNREADABLE": ALL_DATE_FIELDS,
    "MONEY_UNREADABLE": MONEY_FIELDS,
    "MONEY_NEGATIVE": MONEY_FIELDS,
    "FACT_UNREADABLE": FACT_NUMBERS,
    "FACT_NOT_POSITIVE": ("households", "buildings", "area"),
}
_EACH = "*"


def _suffixed(u: dict[str, str], suffix: str) -> list[str]:
    return [k.removesuffix(suffix) for k in u if k.endswith(suffix)]


def _joined_keys(keys: list[str]) -> str | None:
    return ",".join(keys) if keys else None


def _check_frame(export: pd.DataFrame, plan_keys: set[str], snapshot_date: date,
                 book: RuleBook) -> pd.DataFrame:
    """The export with the derived columns the expectations read."""
    f = export.copy()
    # the unreadable cells of a row (JSON), parsed only where there are any (a few rows): the
    # columns derived from them are None elsewhere, and computed row by row only there
    cells = f["unreadable"].to_numpy(dtype=object, na_value=None)
    parsed = {i: u for i, v in enumerate(cells) if isinstance(v, str) and (u := _unreadable(v))}

    def per_row(fn: Any) -> pd.Series:
        """``fn`` of each row's unreadable cells, None where a row has none (a Series built
        as ``Series.map`` builds it: text columns infer the same dtype)."""
        out = np.full(len(f), None, dtype=object)
        for i, u in parsed.items():
            out[i] = fn(u)
        return pd.Series(out, index=f.index)

    for col in ("status", "review_status", "city", "impl_phone", "sup_phone"):
        f[f"{col}_cell"] = f[col].fillna("")       # an empty cell is checked, not skipped
    snap = pd.Timestamp(snapshot_date)
    for key in ALL_DATE_FIELDS:
        day = pd.to_datetime(f[key], errors="coerce").dt.normalize()
        f[f"after_{key}"] = (day - snap).dt.days.astype("Int64")
    f["days_after_snapshot"] = f[[f"after_{k}" for k in ALL_DATE_FIELDS]].max(axis=1).astype("Int64")
    for rule, keys in (("dates", ALL_DATE_FIELDS), ("money", MONEY_FIELDS), ("facts", FACT_NUMBERS)):
        f[f"unreadable_{rule}"] = per_row(lambda u, ks=keys: _joined_keys([k for k in ks if k in u]))
    # values read but out of range, and cells too long (supervision.limits): their fields
    f["out_of_range"] = per_row(lambda u: _joined_keys(_suffixed(u, OUT_OF_RANGE)))
    f["too_long"] = per_row(lambda u: _joined_keys(_suffixed(u, TOO_LONG)))
    f["lowest_money_yuan"] = f[[f"{k}_yuan" for k in MONEY_FIELDS]].min(axis=1).astype("Int64")
    f["smallest_fact"] = f[["households", "buildings", "area"]].astype("Float64").min(axis=1)
    # a date cell that is filled but unreadable is not "missing": DATE_UNREADABLE names it
    for key in DATE_FIELDS:
        f[f"{key}_cell"] = f[key].where(f[key].notna(), per_row(lambda u, k=key: u.get(k)))
    f["matched_plan_key"] = f["plan_key"].where(is_in(f["plan_key"], plan_keys))
    sources = f[[f"{k}_yuan" for k in FUNDING_FIELDS]]
    planned = f["planned_invest_yuan"]
    tolerance = (planned.astype("Float64") * book.thresholds["funding_tolerance_ratio"]).clip(
        lower=book.thresholds["funding_tolerance_yuan"])
    f["funding_sum_yuan"] = sources.sum(axis=1, min_count=1)
    gap = (f["funding_sum_yuan"] - planned).abs()
    f["funding_gap_over_tolerance"] = (gap - tolerance).where(sources.notna().any(axis=1))
    area_m2 = f["area"] * 10000
    f["area_per_household_m2"] = (area_m2 / f["households"].astype("Float64")).where(
        (f["households"] > 0) & (f["area"] > 0))
    return f


_gx_import: threading.Thread | None = None


def start_gx_import() -> None:
    """Start importing Great Expectations in a background thread (2.5 s or more, once per
    process: mostly pydantic building GX's classes), so that it overlaps what the quality
    stage does before the suite runs: reading the staged files and last month's records,
    building the check frame. :func:`_gx` waits for it; an import that fails there is
    repeated (and raises) in the task's own thread."""
    global _gx_import  # noqa: PLW0603 - one import per process
    if _gx_import is not None or "great_expectations" in sys.modules:
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # the modules the stage itself imports on first use: imported here, before the thread
    # starts, so that the two threads never import the same module at the same time
    import pyarrow.parquet  # noqa: F401, PLC0415
    import sqlalchemy.dialects.sqlite  # noqa: F401, PLC0415

    def load() -> None:
        try:
            import great_expectations  # noqa: F401, PLC0415
        except BaseException:  # noqa: BLE001, S110 - raised again by _gx, in the task's thread
            pass

    _gx_import = threading.Thread(target=load, name="gx-import", daemon=True)
    _gx_import.start()


def _gx() -> Any:
    """The ``great_expectations`` module (waiting for :func:`start_gx_import`, if started)."""
    if _gx_import is not None:
        _gx_import.join()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx  # noqa: PLC0415 - a long import, only inside the task
    return gx


def _expectations(book: RuleBook, target_cities: list[str]) -> list[Any]:
    """The suite: one expectation per rule (PHONE_INVALID: one per phone column), each carrying
    its rule id in ``meta``, its severity (critical = blocking) and its Chinese description."""
    gx = _gx()
    from great_expectations.expectations.metadata_types import FailureSeverity  # noqa: PLC0415
    from great_expectations.expectations.row_conditions import Column  # noqa: PLC0415

    E = gx.expectations
    t = book.thresholds

    def tag(rule_id: str, field: str = _EACH) -> dict[str, Any]:
        rule = book[rule_id]
        label = "" if field == _EACH else f"（{FIELD_LABELS.get(field, field)}）"
        return {"meta": {"rule_id": rule_id, "field": field},
                "severity": FailureSeverity.CRITICAL if rule.blocking else FailureSeverity.WARNING,
                "description": f"{rule_id}：{rule.description}{label}"}

    started = Column("status").is_in(["已开工", "已完工"])
    return [
        E.ExpectColumnValuesToBeInSet(column="status_cell", value_set=list(STATUSES),
                                      **tag("STATUS_UNKNOWN", "status")),
        E.ExpectColumnValuesToNotBeNull(column="start_date_cell", row_condition=started,
                                        **tag("START_DATE_MISSING", "start_date")),
        E.ExpectColumnValuesToBeNull(column="start_date_cell",
                                     row_condition=Column("status") == "未开工",
                                     **tag("START_DATE_UNEXPECTED", "start_date")),
        E.ExpectColumnValuesToNotBeNull(column="finish_date_cell",
                                        row_condition=Column("status") == "已完工",
                                        **tag("FINISH_DATE_MISSING", "finish_date")),
        E.ExpectColumnValuesToBeNull(column="finish_date_cell",
                                     row_condition=Column("status").is_in(["未开工", "已开工"]),
                                     **tag("FINISH_DATE_UNEXPECTED", "finish_date")),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="finish_date", column_B="start_date", or_equal=True,
            ignore_row_if="either_value_is_missing", **tag("FINISH_BEFORE_START", "finish_date")),
        E.ExpectColumnValuesToBeBetween(column="days_after_snapshot", max_value=0,
                                        **tag("DATE_AFTER_SNAPSHOT")),
        E.ExpectColumnValuesToBeNull(column="unreadable_dates", **tag("DATE_UNREADABLE")),
        E.ExpectColumnValuesToBeNull(column="unreadable_money", **tag("MONEY_UNREADABLE")),
        E.ExpectColumnValuesToBeNull(column="out_of_range", **tag("VALUE_OUT_OF_RANGE")),
        E.ExpectColumnValuesToBeNull(column="too_long", **tag("CELL_TOO_LONG")),
        E.ExpectColumnValuesToBeBetween(column="lowest_money_yuan", min_value=0,
                                        **tag("MONEY_NEGATIVE")),
        E.ExpectColumnValuesToNotBeNull(column="project_id", **tag("PROJECT_ID_MISSING", "project_id")),
        E.ExpectColumnValuesToBeUnique(column="project_id", **tag("PROJECT_ID_DUPLICATE", "project_id")),
        E.ExpectColumnValuesToBeInSet(column="city_cell", value_set=list(target_cities),
                                      **tag("CITY_NOT_TARGET", "city")),
        E.ExpectColumnValuesToBeUnique(column="matched_plan_key",
                                       **tag("PLAN_DUPLICATE_RECORD", "name")),
        E.ExpectColumnValuesToMatchRegex(column="impl_phone_cell", regex=t["phone_regex"],
                                         **tag("PHONE_INVALID", "impl_phone")),
        E.ExpectColumnValuesToMatchRegex(column="sup_phone_cell", regex=t["phone_regex"],
                                         **tag("PHONE_INVALID", "sup_phone")),
        E.ExpectColumnValuesToBeBetween(column="funding_gap_over_tolerance", max_value=0,
                                        **tag("FUNDING_SUM_MISMATCH", "资金来源")),
        E.ExpectColumnValuesToBeBetween(column="smallest_fact", min_value=0, strict_min=True,
                                        **tag("FACT_NOT_POSITIVE")),
        E.ExpectColumnValuesToBeNull(column="unreadable_facts", **tag("FACT_UNREADABLE")),
        E.ExpectColumnValuesToBeBetween(column="area_per_household_m2",
                                        min_value=t["area_per_household_m2"][0],
                                        max_value=t["area_per_household_m2"][1],
                                        **tag("AREA_PER_HOUSEHOLD", "户均建筑面积")),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="planned_invest_yuan", column_B="done_invest_yuan", or_equal=True,
            ignore_row_if="either_value_is_missing", **tag("INVEST_OVER_PLAN", "done_invest")),
        E.ExpectColumnValuesToBeBetween(column="built_year", max_value=t["latest_built_year"],
                                        **tag("BUILT_AFTER_2000", "built_year")),
        E.ExpectColumnValuesToBeInSet(column="review_status_cell",
                                      value_set=list(t["review_statuses"]),
                                      **tag("REVIEW_STATUS_UNKNOWN", "review_status")),
    ]


def expectation_columns() -> list[str]:
    """The columns of the check frame the suite reads (the rest stays out of GX)."""
    return ["source_row", "project_id", "status", "status_cell", "review_status_cell",
            "city_cell", "start_date", "finish_date", "start_date_cell", "finish_date_cell",
            "days_after_snapshot", "unreadable_dates", "unreadable_money", "lowest_money_yuan",
            "unreadable_facts", "smallest_fact", "matched_plan_key", "impl_phone_cell",
            "sup_phone_cell", "funding_gap_over_tolerance", "area_per_household_m2",
            "planned_invest_yuan", "done_invest_yuan", "built_year", "out_of_range", "too_long"]


#: the check-frame columns (besides the export's own) that :func:`_fields_broken` and
#: :func:`_describe` read from a failing row
DESCRIBED_COLUMNS = (*(f"after_{k}" for k in ALL_DATE_FIELDS), "start_date_cell",
                     "finish_date_cell", "matched_plan_key", "funding_sum_yuan",
                     "area_per_household_m2")


def _fields_broken(rule_id: str, row: dict[str, Any]) -> list[str]:
    """The columns of a multi-column rule that broke it in ``row``."""
    if rule_id == "DATE_AFTER_SNAPSHOT":
        return [k for k in ALL_DATE_FIELDS if not nz.is_blank(row[f"after_{k}"]) and row[f"after_{k}"] > 0]
    if rule_id in ("DATE_UNREADABLE", "MONEY_UNREADABLE", "FACT_UNREADABLE"):
        return [k for k in MULTI_FIELD[rule_id] if k in _unreadable(row["unreadable"])]
    if rule_id == "VALUE_OUT_OF_RANGE":
        return _suffixed(_unreadable(row["unreadable"]), OUT_OF_RANGE)
    if rule_id == "CELL_TOO_LONG":
        return _suffixed(_unreadable(row["unreadable"]), TOO_LONG)
    if rule_id == "MONEY_NEGATIVE":
        return [k for k in MONEY_FIELDS if not nz.is_blank(row[f"{k}_yuan"]) and row[f"{k}_yuan"] < 0]
    if rule_id == "FACT_NOT_POSITIVE":
        return [k for k in MULTI_FIELD[rule_id] if not nz.is_blank(row[k]) and row[k] <= 0]
    return []  # pragma: no cover


_VOLATILE_KEYS = {"run_id", "validation_time", "batch_markers", "active_batch_definition",
                  "checkpoint_id", "validation_id", "id", "batch_id", "ge_load_time",
                  "great_expectations_version", "notes"}


def _stable(obj: Any) -> Any:
    """The GX result without run ids, timestamps and object ids, so reruns are identical."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in _VOLATILE_KEYS}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


#: the check-frame columns GX reads as Arrow text, as they are: the regex expectations run
#: pyarrow's RE2 on them (GX ``astype(str)``s the column anyway), whose ``\d`` and ``$`` are not
#: Python's; converting them would change what PHONE_INVALID accepts.
_ARROW_TEXT = ("impl_phone_cell", "sup_phone_cell")
#: what GX returns for the failing rows: every row (COMPLETE), named by source_row; no
#: unexpected values beside them and no query text (neither is read, and both cost a pass
#: over the failing rows per expectation)
RESULT_FORMAT = {"result_format": "COMPLETE", "unexpected_index_column_names": ["source_row"],
                 "partial_unexpected_count": 0, "include_unexpected_rows": False,
                 "return_unexpected_index_query": False}
_DROPPED_RESULT_KEYS = ("unexpected_index_list", "partial_unexpected_index_list",
                        "unexpected_index_query", "unexpected_list", "partial_unexpected_list",
                        "partial_unexpected_counts")


def gx_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the suite reads, in the dtypes GX's pandas engine handles fast: numbers as
    float64 (NaN for missing; ``ExpectColumnValuesToBeBetween`` compares a nullable Int64 /
    Float64 column value by value in Python, a numpy column vectorised), text as numpy objects
    (None for missing; every expectation's row filter and failing-row selection then takes a
    few numpy blocks instead of one Arrow array per column). The values compared are the same:
    the integers are far below 2**53 and missing stays missing."""
    columns = {}
    for name in expectation_columns():
        col = frame[name]
        if name in _ARROW_TEXT:
            columns[name] = col
        elif isinstance(col.dtype, (pd.Int64Dtype, pd.Float64Dtype)) or col.dtype.kind in "f":
            columns[name] = col.to_numpy(dtype="float64", na_value=np.nan)
        elif col.dtype.kind in "iu":
            columns[name] = col.to_numpy()
        else:
            # (a Series of dtype object: from a bare array, pandas would infer Arrow text again)
            columns[name] = pd.Series(col.to_numpy(dtype=object, na_value=None),
                                      index=frame.index, dtype=object)
    return pd.DataFrame(columns, index=frame.index)


def run_gx(frame: pd.DataFrame, expectations: list[Any], suite_name: str) -> tuple[list[dict], dict]:
    """Validate ``frame`` (:func:`gx_frame`) against ``expectations``; return the failing
    (rule, field, row) and the result as a JSON-able dict."""
    gx = _gx()
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR  # noqa: PLC0415
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415
    from great_expectations.validator.v1_validator import Validator  # noqa: PLC0415

    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("supervision").add_dataframe_asset("export")
    batch_definition = asset.add_batch_definition_whole_dataframe("month")
    # built whole, then stored once (adding expectations one by one re-serialises the suite)
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    # The validator a ValidationDefinition's run (and Batch.validate) runs, without the rest of
    # either: the run also serialises the whole result, every failing row included, into the
    # context's results store, which is never read (3 s of 9 at 300,000); Batch.validate loads
    # the frame twice, each load fingerprinting it (0.9 s at 300,000), once for the Batch and
    # again for its validator. Of what the run adds, gx_validation.json keeps the batch
    # parameters: recorded as the run records them (the frame as "<DATAFRAME>").
    validator = Validator(batch_definition=batch_definition,
                          batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT)
    result = validator.validate_expectation_suite(suite)
    result.meta["batch_parameters"] = {"dataframe": DATAFRAME_REPLACEMENT_STR}
    failures = []
    for r in result.results:
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"GX expectation {r.expectation_config.type} failed to run: "
                               f"{r.exception_info.get('exception_message')}")
        m = r.expectation_config.meta or {}
        for item in r.result.get("unexpected_index_list") or []:
            failures.append({"rule_id": m["rule_id"], "field": m["field"],
                             "source_row": int(item["source_row"])})
        # the rows are in findings.csv and the quarantine file; keep the JSON small and
        # diffable (and do not serialise thousands of row dicts only to drop them)
        for key in _DROPPED_RESULT_KEYS:
            r.result.pop(key, None)
    return failures, _stable(result.to_json_dict())


def _describe(rule_id: str, field: str, row: dict[str, Any], snapshot_date: date,
              same: dict[str, dict[Any, list[int]]]) -> str:
    """What the report shows as the value of one GX finding."""
    def rows_with(kind: str, value: Any) -> str:
        rows = same.get(kind, {}).get(value, [])
        return "、".join(str(r) for r in rows)

    if rule_id in ("STATUS_UNKNOWN", "REVIEW_STATUS_UNKNOWN", "CITY_NOT_TARGET",
                   "BUILT_AFTER_2000", "PHONE_INVALID", "FACT_NOT_POSITIVE"):
        return _shown(row.get(field))
    if rule_id == "START_DATE_MISSING":
        return f"改造状态{row['status']}，开工日期为空"
    if rule_id == "START_DATE_UNEXPECTED":
        return f"改造状态未开工，开工日期{row['start_date_cell']}"
    if rule_id == "FINISH_DATE_MISSING":
        return "改造状态已完工，完工日期为空"
    if rule_id == "FINISH_DATE_UNEXPECTED":
        return f"改造状态{row['status']}，完工日期{row['finish_date_cell']}"
    if rule_id == "FINISH_BEFORE_START":
        return f"完工{row['finish_date']}，开工{row['start_date']}"
    if rule_id == "DATE_AFTER_SNAPSHOT":
        return f"{str(row[field])[:10]}（快照日期{snapshot_date.isoformat()}）"
    if rule_id in ("DATE_UNREADABLE", "MONEY_UNREADABLE", "FACT_UNREADABLE"):
        return _shown(_unreadable(row["unreadable"]).get(field))
    if rule_id == "VALUE_OUT_OF_RANGE":
        return _shown(_unreadable(row["unreadable"]).get(field + OUT_OF_RANGE))
    if rule_id == "CELL_TOO_LONG":
        return _shown(_unreadable(row["unreadable"]).get(field + TOO_LONG))
    if rule_id == "MONEY_NEGATIVE":
        return f"{wan(row[f'{field}_yuan'])}万元"
    if rule_id == "PROJECT_ID_MISSING":
        return EMPTY
    if rule_id == "PROJECT_ID_DUPLICATE":
        return f"{row['project_id']}（第{rows_with('project_id', row['project_id'])}行）"
    if rule_id == "PLAN_DUPLICATE_RECORD":
        return (f"{row['city']} {row['county']} {row['name']}"
                f"（第{rows_with('matched_plan_key', row['matched_plan_key'])}行）")
    if rule_id == "FUNDING_SUM_MISMATCH":
        return f"各渠道合计{wan(row['funding_sum_yuan'])}万元，计划总投资{wan(row['planned_invest_yuan'])}万元"
    if rule_id == "AREA_PER_HOUSEHOLD":
        return f"{row['area_per_household_m2']:.1f}平方米/户"
    if rule_id == "INVEST_OVER_PLAN":
        return f"累计完成{wan(row['done_invest_yuan'])}万元，计划总投资{wan(row['planned_invest_yuan'])}万元"
    return _shown(row.get(field))  # pragma: no cover - every GX rule is described above


# --------------------------------------------------------------------------- plain checks

_ITEM_SEPARATORS = re.compile(r"[、,;/\s]+")


def _items(value: Any) -> frozenset[str]:
    """计划改造内容 as a set of items: the order they are listed in does not matter."""
    s = nz.key(value)
    return frozenset(i for i in _ITEM_SEPARATORS.split(nz.text(value) or "") if i) if s else frozenset()


def _plan_mismatches(export: pd.DataFrame, plan: pd.DataFrame) -> list[dict]:
    """N12: the declared facts of a matched record against the plan registry."""
    facts = ["households", "buildings", "area", "built_year", "ownership", "planned_content"]
    # only the columns compared (the merge copies every column it carries, Arrow text included)
    merged = export[["source_row", "plan_key", *facts]].reset_index(drop=True).merge(
        plan[["plan_key", *facts]], on="plan_key", how="inner", suffixes=("", "_plan"))
    out = []
    for col in facts:
        a, b = merged[col], merged[f"{col}_plan"]
        both = (a.notna() & b.notna()).astype(bool)
        if col == "area":
            differs = both & ((a.astype("Float64") - b.astype("Float64")).abs() > 1e-6).fillna(False)
        elif col in ("ownership", "planned_content"):
            # equal text is equal; only the rows written differently are compared as keys / items
            same_key = nz.key if col == "ownership" else _items
            rows = np.flatnonzero((both & (a != b)).fillna(False).astype(bool).to_numpy())
            values = np.zeros(len(merged), dtype=bool)
            xs, ys = a.to_numpy(dtype=object)[rows], b.to_numpy(dtype=object)[rows]
            values[rows] = [same_key(x) != same_key(y) for x, y in zip(xs, ys)]
            differs = pd.Series(values, index=merged.index)
        else:
            differs = both & (a.astype("Int64") != b.astype("Int64")).fillna(False)
        for row in merged[differs.astype(bool)].itertuples(index=False):
            out.append({"rule_id": "PLAN_MISMATCH", "field": FIELD_LABELS[col],
                        "source_row": int(row.source_row),
                        "value": f"{_shown(getattr(row, col))}（计划：{_shown(getattr(row, f'{col}_plan'))}）"})
    return out


def _backwards(export: pd.DataFrame, previous: pd.DataFrame | None) -> list[dict]:
    """Falsification signals: money or status going backwards against last month's valid
    record of the same 项目编号."""
    if previous is None or previous.empty:
        return []
    prev = previous
    if "is_valid" in prev.columns:
        prev = prev[prev["is_valid"].map(bool)]
    prev = prev[["project_id", "status", "done_invest_yuan"]].dropna(subset=["project_id"])
    prev = prev.drop_duplicates("project_id", keep=False).assign(
        done_invest_yuan=lambda p: pd.to_numeric(p.done_invest_yuan).astype("Int64"))
    merged = export[["source_row", "project_id", "status", "done_invest_yuan"]].merge(
        prev, on="project_id", how="inner", suffixes=("", "_prev"))
    out = []
    now_money = merged["done_invest_yuan"].astype("Int64")
    before_money = merged["done_invest_yuan_prev"].astype("Int64")
    money = (now_money < before_money).fillna(False).astype(bool)
    for row in merged[money].itertuples(index=False):
        out.append({"rule_id": "INVEST_BACKWARDS", "field": "累计完成投资",
                    "source_row": int(row.source_row),
                    "value": f"{wan(row.done_invest_yuan)}万元（上月：{wan(row.done_invest_yuan_prev)}万元）"})
    now = merged["status"].map(STATUS_ORDER)
    before = merged["status_prev"].map(STATUS_ORDER)
    status = (now.notna() & before.notna() & (now < before)).astype(bool)
    for row in merged[status].itertuples(index=False):
        out.append({"rule_id": "STATUS_BACKWARDS", "field": "改造状态",
                    "source_row": int(row.source_row),
                    "value": f"{row.status}（上月：{row.status_prev}）"})
    return out


def _not_in_plan(export: pd.DataFrame, plan_keys: set[str]) -> list[dict]:
    unmatched = export[~is_in(export["plan_key"], plan_keys)]
    return [{"rule_id": "NOT_IN_PLAN", "field": "小区名称", "source_row": int(r.source_row),
             "value": " ".join(str(v) for v in (r.city, r.county, r.name) if v) or EMPTY}
            for r in unmatched.itertuples(index=False)]


def plan_count_findings(plan: pd.DataFrame, targets: pd.DataFrame) -> list[dict]:
    """City-level: the plan registry's count per city against its target (附件1)."""
    counts = plan.groupby("city").size()
    out = []
    for t in targets.itertuples(index=False):
        n = int(counts.get(t.city, 0))
        if n != int(t.target_count):
            out.append({"rule_id": "PLAN_COUNT_MISMATCH", "field": "任务数", "source_row": None,
                        "source_file": None, "city": t.city, "project_id": None,
                        "value": f"计划{n}个，目标任务{int(t.target_count)}个"})
    return out


def plan_value_findings(plan: pd.DataFrame) -> list[dict]:
    """Plan rows whose declared number could not be read (they cannot be checked by N12)."""
    if "unreadable" not in plan.columns:
        return []
    out = []
    for row in plan[plan["unreadable"].notna()].itertuples(index=False):
        for key, cell in _unreadable(row.unreadable).items():
            if key.endswith(OUT_OF_RANGE):
                key, cell = key.removesuffix(OUT_OF_RANGE), f"{cell}（超出可能的范围）"
            out.append({"rule_id": "PLAN_VALUE_UNREADABLE", "field": FIELD_LABELS.get(key, key),
                        "source_row": None, "source_file": row.source_file, "city": row.city,
                        "project_id": None,
                        "value": f"计划表第{row.source_row}行 {row.county} {row.name}：{cell}"})
    return out


def summary_findings(meta: dict[str, Any] | None) -> list[dict]:
    """The 合计 lines of a file that its rows do not add up to (``ingest.table_meta``)."""
    if not meta:
        return []
    out = []
    for c in meta.get("summary_checks", []):
        if c["ok"]:
            continue
        extra = f"（逐行相加时有{c['unreadable']}个值无法识别）" if c.get("unreadable") else ""
        computed = f"逐行相加为{c['computed']}" if c["computed"] != "" else "合计值无法识别"
        out.append({"rule_id": "SUMMARY_MISMATCH", "field": c["field"], "source_row": None,
                    "source_file": meta["file"], "city": None, "project_id": None,
                    "value": f"第{c['row']}行合计为{c['stated']}，{computed}{extra}"})
    return out


# --------------------------------------------------------------------------- the month

def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")``, the same values of the same types (a masked column's NA as
    None, an object column's numpy scalars as Python's), built a column at a time: 4× faster
    than pandas' row tuples on Arrow text (1.3 s against 0.35 s for 30,000 rows × 47 columns)."""
    columns = []
    for name in frame.columns:
        col = frame[name]
        values = col.tolist()
        if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) and col.hasnans:
            values = [None if v is pd.NA else v for v in values]
        elif col.dtype == object:
            values = [v.item() if isinstance(v, np.generic) else v for v in values]
        columns.append(values)
    names = list(frame.columns)
    if not names:
        return [{} for _ in range(len(frame))]
    return [dict(zip(names, row)) for row in zip(*columns)]


def evaluate(export: pd.DataFrame, plan: pd.DataFrame, targets: pd.DataFrame,
             snapshot_date: date, previous: pd.DataFrame | None = None,
             book: RuleBook | None = None, suite_name: str = "monthly_export",
             file_findings: list[dict] | None = None) -> QualityResult:
    """Run every rule on one month's export. ``previous`` is last month's records (for the
    backwards checks), or None when there is no last month; ``file_findings`` are findings
    about the files as a whole (:func:`summary_findings`)."""
    book = book or load_rules()
    export = export.reset_index(drop=True)
    plan_keys = set(plan["plan_key"].to_numpy(dtype=object).tolist())  # (not cell by cell)
    target_cities = list(targets["city"])
    frame = _check_frame(export, plan_keys, snapshot_date, book)
    gx_failures, gx_result = run_gx(gx_frame(frame),
                                    _expectations(book, target_cities), suite_name)
    other_failures = (_plan_mismatches(export, plan) + _backwards(export, previous)
                      + _not_in_plan(export, plan_keys))
    # the rows with a finding, as dicts (a few percent of a month: never the whole frame)
    # and only the columns read from them: the export's own and the derived ones described
    failing = {f["source_row"] for f in gx_failures} | {f["source_row"] for f in other_failures}
    shown = [c for c in frame.columns if c in export.columns] + [
        c for c in DESCRIBED_COLUMNS if c not in export.columns]
    by_row = {r["source_row"]: r for r in records(frame.loc[frame["source_row"].isin(failing), shown])}
    same: dict[str, dict[Any, list[int]]] = {}
    for kind in ("project_id", "matched_plan_key"):
        # the rows whose value occurs more than once (found column-wise), grouped by value
        repeated = np.flatnonzero(frame[kind].duplicated(keep=False).to_numpy(dtype=bool))
        groups: dict[Any, list[int]] = {}
        for value, source_row in zip(frame[kind].to_numpy(dtype=object)[repeated].tolist(),
                                     frame["source_row"].to_numpy()[repeated].tolist()):
            if not nz.is_blank(value):
                groups.setdefault(value, []).append(int(source_row))
        same[kind] = {v: rows for v, rows in groups.items() if len(rows) > 1}
    described = []
    for f in gx_failures:
        row = by_row[f["source_row"]]
        fields = _fields_broken(f["rule_id"], row) if f["field"] == _EACH else [f["field"]]
        for field in fields:
            described.append({**f, "field": FIELD_LABELS.get(field, field),
                              "value": _describe(f["rule_id"], field, row, snapshot_date, same)})
    gx_failures = described
    row_failures = gx_failures + other_failures
    rows = []
    for f in row_failures:
        rec = by_row[f["source_row"]]
        rows.append({**f, "source_file": rec["source_file"], "project_id": rec["project_id"],
                     "city": rec["city"], "severity": book[f["rule_id"]].severity})
    for f in (plan_value_findings(plan) + plan_count_findings(plan, targets)
              + list(file_findings or [])):
        rows.append({**f, "severity": book[f["rule_id"]].severity})
    findings = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    findings["source_row"] = findings["source_row"].astype("Int64")
    findings = findings.drop_duplicates().sort_values(
        ["source_row", "rule_id", "field", "source_file", "city", "value"], na_position="last",
        kind="stable").reset_index(drop=True)
    blocked = set(findings.loc[findings.severity == "blocking", "source_row"].dropna().astype(int))
    valid = ~export["source_row"].isin(blocked)
    result = QualityResult(findings=findings, valid=valid, gx_result=gx_result,
                           rows_read=len(export))
    if result.rows_read != result.rows_accepted + result.rows_quarantined:  # pragma: no cover
        raise QualityInvariantError(
            f"rows read {result.rows_read} != accepted {result.rows_accepted} + quarantined "
            f"{result.rows_quarantined}")
    log.info("quality: rows read %d = accepted %d + quarantined %d; %d findings "
             "(%d blocking, %d warning)", result.rows_read, result.rows_accepted,
             result.rows_quarantined, len(findings), int((findings.severity == "blocking").sum()),
             int((findings.severity == "warning").sum()))
    return result


QUARANTINE_COLUMNS = ["source_file", "source_row", "project_id", "city", "county", "name",
                      "rule_ids", "fields", "reasons", "details", "raw"]


def quarantine_frame(export: pd.DataFrame, result: QualityResult,
                     book: RuleBook | None = None, *, raw: list[str]) -> pd.DataFrame:
    """The quarantined rows: every blocking finding of each, and the row as it was in the file
    (``raw``: the quarantined rows' raw lines in file order, ``Export.raw_lines``)."""
    book = book or load_rules()
    blocking = result.findings[result.findings.severity == "blocking"].dropna(subset=["source_row"])
    blocking = blocking.assign(detail=blocking["field"] + "：" + blocking["value"].fillna(EMPTY))
    grouped = blocking.groupby("source_row").agg(
        rule_ids=("rule_id", lambda s: ",".join(sorted(set(s)))),
        fields=("field", lambda s: "、".join(dict.fromkeys(s))),
        details=("detail", lambda s: "；".join(s)))
    q = export[~result.valid.values]
    if len(raw) != len(q):
        raise ValueError(f"{len(raw)} raw lines for {len(q)} quarantined rows")
    q = q.assign(raw=pd.Series(raw, index=q.index, dtype=object if not raw else None))
    q = q.merge(grouped, left_on="source_row", right_index=True, how="left")
    q["reasons"] = q["rule_ids"].map(
        lambda ids: "；".join(book[i].description for i in ids.split(",")))
    return q[QUARANTINE_COLUMNS].sort_values("source_row", kind="stable").reset_index(drop=True)
