"""Data quality of one month's export (SPEC §4): a Great Expectations suite built in code, and
the checks GX cannot express (the plan registry, last month) run beside it.

Every finding names a rule (``include/config/quality_rules.yaml``), the source row and the
field. A record with a blocking finding is quarantined: it stays in the warehouse and in the
quarantine file with its rule ids and counts as ``DATA_INVALID`` for its city. Nothing is
dropped: rows read = rows accepted + rows quarantined, asserted on every run.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from . import normalize as nz
from . import paths
from .ingest import DATE_FIELDS, FUNDING_FIELDS, MONEY_FIELDS

log = logging.getLogger(__name__)

STATUSES = ("未开工", "已开工", "已完工")
STATUS_ORDER = {s: i for i, s in enumerate(STATUSES)}
REVIEWED = "已审核"
FIELD_LABELS = {
    "start_date": "开工日期", "finish_date": "完工日期", "reported_at": "填报时间",
    "reviewed_at": "审核时间", "planned_invest": "计划总投资", "done_invest": "累计完成投资",
    "central_subsidy": "中央补助资金", "central_budget": "中央预算内资金",
    "provincial_subsidy": "省级补助资金", "local_funds": "市县配套资金",
    "social_funds": "社会及居民出资", "households": "涉及户数", "buildings": "小区内楼栋数",
    "area": "总建筑面积", "built_year": "建成时间", "ownership": "房屋性质",
    "planned_content": "计划改造内容", "elevators": "加装电梯", "impl_phone": "实施责任人电话",
    "sup_phone": "监管责任人电话",
}
FINDING_COLUMNS = ["source_row", "project_id", "city", "rule_id", "severity", "field", "value"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str          # "blocking" | "warning"
    engine: str            # "gx" | "plain"
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
    rules = {r["id"]: Rule(r["id"], r["severity"], r["engine"], r["field"], r["description"])
             for r in data["rules"]}
    for r in rules.values():
        if r.severity not in ("blocking", "warning"):
            raise ValueError(f"{path}: rule {r.id} has unknown severity {r.severity!r}")
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


# --------------------------------------------------------------------------- the GX suite

def _check_frame(export: pd.DataFrame, plan_keys: set[str], snapshot_date: date,
                 book: RuleBook) -> pd.DataFrame:
    """The export with the derived columns the expectations read."""
    f = export.copy()
    snap = pd.Timestamp(snapshot_date)
    dates = pd.concat([pd.to_datetime(f[c], errors="coerce").dt.normalize()
                       for c in (*DATE_FIELDS, "reported_at", "reviewed_at")], axis=1)
    f["days_after_snapshot"] = (dates.max(axis=1) - snap).dt.days.astype("Int64")
    unreadable = f["unreadable"].fillna("").str.split(",")
    date_keys = {*DATE_FIELDS, "reported_at", "reviewed_at"}
    f["date_unreadable"] = unreadable.map(lambda u: bool(date_keys.intersection(u)))
    f["money_unreadable"] = unreadable.map(lambda u: bool(set(MONEY_FIELDS).intersection(u)))
    f["fact_unreadable"] = unreadable.map(
        lambda u: bool({"households", "buildings", "area", "built_year", "elevators"}.intersection(u)))
    f["matched_plan_key"] = f["plan_key"].where(f["plan_key"].isin(plan_keys))
    sources = f[[f"{k}_yuan" for k in FUNDING_FIELDS]]
    planned = f["planned_invest_yuan"]
    tolerance = (planned.astype("Float64") * book.thresholds["funding_tolerance_ratio"]).clip(
        lower=book.thresholds["funding_tolerance_yuan"])
    gap = (sources.sum(axis=1, min_count=1) - planned).abs()
    f["funding_gap_over_tolerance"] = (gap - tolerance).where(sources.notna().any(axis=1))
    area_m2 = f["area"] * 10000
    f["area_per_household_m2"] = (area_m2 / f["households"].astype("Float64")).where(
        (f["households"] > 0) & (f["area"] > 0))
    return f


def _expectations(book: RuleBook, target_cities: list[str]) -> list[Any]:
    import great_expectations as gx  # noqa: PLC0415 - 12 s import, only inside the task
    from great_expectations.expectations.row_conditions import Column  # noqa: PLC0415

    E = gx.expectations
    t = book.thresholds

    def meta(rule_id: str, column: str) -> dict[str, str]:
        return {"rule_id": rule_id, "field": FIELD_LABELS.get(column.removesuffix("_yuan"), column)}

    started = Column("status").is_in(["已开工", "已完工"])
    out = [
        E.ExpectColumnValuesToNotBeNull(column="status", meta=meta("STATUS_UNKNOWN", "改造状态")),
        E.ExpectColumnValuesToBeInSet(column="status", value_set=list(STATUSES),
                                      meta=meta("STATUS_UNKNOWN", "改造状态")),
        E.ExpectColumnValuesToNotBeNull(column="start_date", row_condition=started,
                                        meta=meta("START_DATE_MISSING", "start_date")),
        E.ExpectColumnValuesToBeNull(column="start_date", row_condition=Column("status") == "未开工",
                                     meta=meta("START_DATE_UNEXPECTED", "start_date")),
        E.ExpectColumnValuesToNotBeNull(column="finish_date", row_condition=Column("status") == "已完工",
                                        meta=meta("FINISH_DATE_MISSING", "finish_date")),
        E.ExpectColumnValuesToBeNull(column="finish_date",
                                     row_condition=Column("status").is_in(["未开工", "已开工"]),
                                     meta=meta("FINISH_DATE_UNEXPECTED", "finish_date")),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="finish_date", column_B="start_date", or_equal=True,
            ignore_row_if="either_value_is_missing", meta=meta("FINISH_BEFORE_START", "finish_date")),
        E.ExpectColumnValuesToBeBetween(column="days_after_snapshot", max_value=0,
                                        meta=meta("DATE_AFTER_SNAPSHOT", "日期")),
        E.ExpectColumnValuesToBeInSet(column="date_unreadable", value_set=[False],
                                      meta=meta("DATE_UNREADABLE", "日期")),
        E.ExpectColumnValuesToBeInSet(column="money_unreadable", value_set=[False],
                                      meta=meta("MONEY_UNREADABLE", "金额")),
        E.ExpectColumnValuesToNotBeNull(column="project_id", meta=meta("PROJECT_ID_MISSING", "项目编号")),
        E.ExpectColumnValuesToBeUnique(column="project_id", meta=meta("PROJECT_ID_DUPLICATE", "项目编号")),
        E.ExpectColumnValuesToNotBeNull(column="city", meta=meta("CITY_NOT_TARGET", "市州")),
        E.ExpectColumnValuesToBeInSet(column="city", value_set=list(target_cities),
                                      meta=meta("CITY_NOT_TARGET", "市州")),
        E.ExpectColumnValuesToBeUnique(column="matched_plan_key",
                                       meta=meta("PLAN_DUPLICATE_RECORD", "小区名称")),
        E.ExpectColumnValuesToBeInSet(column="fact_unreadable", value_set=[False],
                                      meta=meta("FACT_UNREADABLE", "户数/楼栋数/面积/建成时间/电梯")),
        E.ExpectColumnValuesToBeBetween(column="funding_gap_over_tolerance", max_value=0,
                                        meta=meta("FUNDING_SUM_MISMATCH", "资金来源")),
        E.ExpectColumnValuesToBeBetween(column="area_per_household_m2",
                                        min_value=t["area_per_household_m2"][0],
                                        max_value=t["area_per_household_m2"][1],
                                        meta=meta("AREA_PER_HOUSEHOLD", "户均面积")),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="planned_invest_yuan", column_B="done_invest_yuan", or_equal=True,
            ignore_row_if="either_value_is_missing", meta=meta("INVEST_OVER_PLAN", "done_invest")),
        E.ExpectColumnValuesToBeBetween(column="built_year", max_value=t["latest_built_year"],
                                        meta=meta("BUILT_AFTER_2000", "built_year")),
    ]
    for money in MONEY_FIELDS:
        out.append(E.ExpectColumnValuesToBeBetween(column=f"{money}_yuan", min_value=0,
                                                   meta=meta("MONEY_NEGATIVE", money)))
    for col in ("households", "buildings", "area"):
        out.append(E.ExpectColumnValuesToBeBetween(column=col, min_value=0, strict_min=True,
                                                   meta=meta("FACT_NOT_POSITIVE", col)))
    for col in ("impl_phone", "sup_phone"):
        out.append(E.ExpectColumnValuesToNotBeNull(column=col, meta=meta("PHONE_INVALID", col)))
        out.append(E.ExpectColumnValuesToMatchRegex(column=col, regex=t["phone_regex"],
                                                    meta=meta("PHONE_INVALID", col)))
    return out


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


def run_gx(frame: pd.DataFrame, expectations: list[Any], suite_name: str) -> tuple[list[dict], dict]:
    """Validate ``frame`` against ``expectations``; return the failing (rule, row, value) and
    the result as a JSON-able dict."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx  # noqa: PLC0415
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415

    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("supervision").add_dataframe_asset("export")
    batch_definition = asset.add_batch_definition_whole_dataframe("month")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite))
    result = validation.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["source_row"],
                       "partial_unexpected_count": 0, "include_unexpected_rows": False})
    failures = []
    for r in result.results:
        cfg = r.expectation_config
        m = cfg.meta or {}
        column = cfg.kwargs.get("column") or cfg.kwargs.get("column_A")
        for item in r.result.get("unexpected_index_list") or []:
            failures.append({"rule_id": m["rule_id"], "field": m["field"],
                             "source_row": int(item["source_row"]),
                             "value": _text(item.get(column))})
    data = _stable(result.to_json_dict())
    for r in data.get("results", []):
        # the row lists are in the quarantine file; keep the JSON small and diffable
        res = r.get("result", {})
        for key in ("unexpected_index_list", "partial_unexpected_index_list",
                    "unexpected_index_query", "unexpected_list", "partial_unexpected_list",
                    "partial_unexpected_counts"):
            res.pop(key, None)
    return failures, data


def _text(value: Any) -> str | None:
    if nz.is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


# --------------------------------------------------------------------------- plain checks

def _plan_mismatches(export: pd.DataFrame, plan: pd.DataFrame) -> list[dict]:
    """N12: the declared facts of a matched record against the plan registry."""
    merged = export.reset_index(drop=True).merge(
        plan[["plan_key", "households", "buildings", "area", "built_year", "ownership",
              "planned_content"]], on="plan_key", how="inner", suffixes=("", "_plan"))
    out = []
    for col in ("households", "buildings", "area", "built_year", "ownership", "planned_content"):
        a, b = merged[col], merged[f"{col}_plan"]
        both = a.notna() & b.notna()
        if col == "area":
            differs = both & ((a.astype("Float64") - b.astype("Float64")).abs() > 1e-6)
        elif col in ("ownership", "planned_content"):
            differs = both & (a.map(nz.key, na_action="ignore") != b.map(nz.key, na_action="ignore"))
        else:
            differs = both & (a != b)
        for _, row in merged[differs.fillna(False)].iterrows():
            out.append({"rule_id": "PLAN_MISMATCH", "field": FIELD_LABELS[col],
                        "source_row": int(row.source_row),
                        "value": f"{_text(row[col])}（计划：{_text(row[f'{col}_plan'])}）"})
    return out


def _backwards(export: pd.DataFrame, previous: pd.DataFrame | None) -> list[dict]:
    """Falsification signals: money or status going backwards against last month."""
    if previous is None or previous.empty:
        return []
    prev = previous[["project_id", "status", "done_invest_yuan"]].dropna(subset=["project_id"])
    prev = prev.drop_duplicates("project_id", keep=False)
    merged = export.merge(prev, on="project_id", how="inner", suffixes=("", "_prev"))
    out = []
    money = merged["done_invest_yuan"].notna() & merged["done_invest_yuan_prev"].notna() & (
        merged["done_invest_yuan"] < merged["done_invest_yuan_prev"])
    for _, row in merged[money.fillna(False)].iterrows():
        out.append({"rule_id": "INVEST_BACKWARDS", "field": "累计完成投资",
                    "source_row": int(row.source_row),
                    "value": f"{row.done_invest_yuan / 10000:.4f}万元（上月：{row.done_invest_yuan_prev / 10000:.4f}万元）"})
    now = merged["status"].map(STATUS_ORDER)
    before = merged["status_prev"].map(STATUS_ORDER)
    status = now.notna() & before.notna() & (now < before)
    for _, row in merged[status.fillna(False)].iterrows():
        out.append({"rule_id": "STATUS_BACKWARDS", "field": "改造状态",
                    "source_row": int(row.source_row),
                    "value": f"{row.status}（上月：{row.status_prev}）"})
    return out


def _not_in_plan(export: pd.DataFrame, plan_keys: set[str]) -> list[dict]:
    unmatched = export[~export["plan_key"].isin(plan_keys)]
    return [{"rule_id": "NOT_IN_PLAN", "field": "小区名称", "source_row": int(r.source_row),
             "value": " ".join(str(v) for v in (r.city, r.county, r["name"]) if v)}
            for _, r in unmatched.iterrows()]


def plan_count_findings(plan: pd.DataFrame, targets: pd.DataFrame) -> list[dict]:
    """City-level: the plan registry's count per city against its target (附件1)."""
    counts = plan.groupby("city").size()
    out = []
    for _, t in targets.iterrows():
        n = int(counts.get(t.city, 0))
        if n != int(t.target_count):
            out.append({"rule_id": "PLAN_COUNT_MISMATCH", "field": "任务数", "source_row": None,
                        "city": t.city, "value": f"计划{n}个，目标任务{int(t.target_count)}个"})
    return out


# --------------------------------------------------------------------------- the month

def evaluate(export: pd.DataFrame, plan: pd.DataFrame, targets: pd.DataFrame,
             snapshot_date: date, previous: pd.DataFrame | None = None,
             book: RuleBook | None = None, suite_name: str = "monthly_export") -> QualityResult:
    """Run every rule on one month's export. ``previous`` is last month's records (for the
    backwards checks), or None when there is no last month."""
    book = book or load_rules()
    export = export.reset_index(drop=True)
    plan_keys = set(plan["plan_key"])
    target_cities = list(targets["city"])
    frame = _check_frame(export, plan_keys, snapshot_date, book)
    columns = ["source_row", "project_id", "city", "status", "start_date", "finish_date",
               "days_after_snapshot", "date_unreadable", "money_unreadable", "fact_unreadable",
               "matched_plan_key", "funding_gap_over_tolerance", "area_per_household_m2",
               "planned_invest_yuan", "done_invest_yuan", "built_year", "households",
               "buildings", "area", "impl_phone", "sup_phone",
               *[f"{m}_yuan" for m in MONEY_FIELDS if m not in ("planned_invest", "done_invest")]]
    gx_failures, gx_result = run_gx(frame[columns], _expectations(book, target_cities), suite_name)
    failures = (gx_failures + _plan_mismatches(export, plan) + _backwards(export, previous)
                + _not_in_plan(export, plan_keys))
    by_row = export.set_index("source_row")
    rows = []
    for f in failures:
        rec = by_row.loc[f["source_row"]]
        rows.append({**f, "project_id": rec.project_id, "city": rec.city,
                     "severity": book[f["rule_id"]].severity})
    for f in plan_count_findings(plan, targets):
        rows.append({**f, "project_id": None, "severity": book[f["rule_id"]].severity})
    findings = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    findings["source_row"] = findings["source_row"].astype("Int64")
    findings = findings.drop_duplicates().sort_values(
        ["source_row", "rule_id", "field"], na_position="last", kind="stable").reset_index(drop=True)
    blocked = set(findings.loc[findings.severity == "blocking", "source_row"].dropna().astype(int))
    valid = ~export["source_row"].isin(blocked)
    result = QualityResult(findings=findings, valid=valid, gx_result=gx_result,
                           rows_read=len(export))
    assert result.rows_read == result.rows_accepted + result.rows_quarantined
    log.info("quality: rows read %d = accepted %d + quarantined %d; %d findings",
             result.rows_read, result.rows_accepted, result.rows_quarantined, len(findings))
    return result


def quarantine_frame(export: pd.DataFrame, result: QualityResult,
                     book: RuleBook | None = None) -> pd.DataFrame:
    """The quarantined rows: every blocking rule of each, and the row as it was in the file."""
    book = book or load_rules()
    blocking = result.findings[result.findings.severity == "blocking"].dropna(subset=["source_row"])
    grouped = blocking.groupby("source_row").agg(
        rule_ids=("rule_id", lambda s: ",".join(sorted(set(s)))),
        fields=("field", lambda s: "、".join(dict.fromkeys(s))))
    q = export[~result.valid.values].merge(grouped, left_on="source_row", right_index=True, how="left")
    q["reasons"] = q["rule_ids"].map(
        lambda ids: "；".join(book[i].description for i in ids.split(",")))
    return q[["source_file", "source_row", "project_id", "city", "county", "name", "rule_ids",
              "fields", "reasons", "raw"]].reset_index(drop=True)
