"""The data steward's monthly quality report: one Chinese HTML page, with what it rests on kept
beside it and linked from it:

    quality_report.html            the report
    quarantine.csv                 every quarantined row, its rules, and the row as read
    quality/findings.csv           every finding (blocking and warning), one row per finding
    quality/gx_validation.json     the Great Expectations validation result

The report's numbers are computed from the same findings as the two csv files, so they agree
(a test checks the report against quarantine.csv). No run timestamp is written: a rerun with the
same inputs gives the same bytes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .documents import render
from .months import Month
from .outputs import write_csv, write_json
from .quality import EMPTY, QualityResult, RuleBook, is_in

GX_RESULT_PATH = "quality/gx_validation.json"
FINDINGS_PATH = "quality/findings.csv"
QUARANTINE_PATH = "quarantine.csv"
#: warnings listed per rule in the page (all of them are in quality/findings.csv)
WARNINGS_SHOWN_PER_RULE = 50
SKIP_REASONS = {"title": "表头上方的标题行", "header": "重复的表头行", "summary": "合计/小计行",
                "note": "注释或落款行", "no_data": "识别的列均为空（如仅有序号）"}
QUARANTINE_HEADER = ["源文件", "源文件行号", "项目编号", "市州", "所在县市区", "小区名称", "规则编号",
                     "问题字段", "原因", "问题明细", "原始数据"]
FINDINGS_HEADER = ["源文件", "源文件行号", "项目编号", "市州", "规则编号", "级别", "字段", "发现的值",
                   "规则说明"]
SEVERITY_ZH = {"blocking": "阻断", "warning": "警告"}
SCOPE_UNIT = {"row": "条记录", "plan_row": "项", "city": "个市州", "file": "项"}
OTHER_CITY = "（非目标市州或空）"
#: the columns of a record the page shows (its number and place)
SHOWN_COLUMNS = ("source_row", "project_id", "city", "county", "name")


def rule_counts(findings: pd.DataFrame) -> dict[str, int]:
    """Per rule, what it was found on: distinct export rows for a record rule; findings for the
    rules about a plan row, a city or a file."""
    if findings.empty:
        return {}
    unit = findings["source_row"].astype("string")
    other = ("other:" + findings["source_file"].astype("string").fillna("") + "|"
             + findings["city"].astype("string").fillna("") + "|"
             + findings["field"].astype("string").fillna("") + "|"
             + findings["value"].astype("string").fillna(""))
    keyed = findings.assign(unit=unit.fillna(other))
    return {k: int(v) for k, v in keyed.groupby("rule_id")["unit"].nunique().items()}


#: the warehouse columns :func:`month_summary` reads (not a month's whole records)
SUMMARY_COLUMNS = {"findings": ("rule_id", "source_row", "source_file", "city", "field", "value"),
                   "records": ("city", "is_valid")}
#: a month's records counted per city and validity (what :func:`month_summary` needs of them)
RECORD_COUNTS_SQL = "quality/record_counts"


def month_summary(findings: pd.DataFrame | None, records: pd.DataFrame | None) -> dict[str, Any] | None:
    """What next month's report compares with: the rule counts and the quarantined rows per
    city of a month (its warehouse rows). ``records`` has a row per record, or per city and
    validity with their count in ``n`` (include/sql/quality/record_counts.sql)."""
    if findings is None or records is None or records.empty:
        return None
    counts = (records["n"].astype("int64") if "n" in records.columns
              else pd.Series(1, index=records.index, dtype="int64"))
    invalid = ~records["is_valid"].map(bool).astype(bool)
    cities = records.loc[invalid, "city"].map(lambda c: c if isinstance(c, str) else "")
    per_city = (counts[invalid].groupby(cities.to_numpy(dtype=object), sort=False).sum()
                .sort_values(ascending=False, kind="stable"))
    return {"rule_counts": rule_counts(findings), "rows_read": int(counts.sum()),
            "rows_quarantined": int(counts[invalid].sum()),
            "city_quarantined": {k: int(v) for k, v in per_city.items() if v}}


def write_quarantine_csv(path: Path, quarantine: pd.DataFrame) -> Path:
    cols = ["source_file", "source_row", "project_id", "city", "county", "name", "rule_ids",
            "fields", "reasons", "details", "raw"]
    return write_csv(path, QUARANTINE_HEADER, quarantine[cols].itertuples(index=False, name=None))


def write_findings_csv(path: Path, findings: pd.DataFrame, book: RuleBook) -> Path:
    rows = ((f.source_file, f.source_row, f.project_id, f.city, f.rule_id,
             SEVERITY_ZH[f.severity], f.field, f.value, book[f.rule_id].description)
            for f in findings.itertuples(index=False))
    return write_csv(path, FINDINGS_HEADER, rows)


def _change(now: int, before: int | None) -> str:
    return "—" if before is None else f"{now - before:+d}"


def _city_of(value: Any, cities: list[str]) -> str:
    return value if isinstance(value, str) and value in cities else OTHER_CITY


def _place(rec: dict[str, Any]) -> str:
    return " ".join(str(rec[k]) for k in ("city", "county", "name")
                    if isinstance(rec.get(k), str)) or EMPTY


def report_context(month: Month, export: pd.DataFrame, plan: pd.DataFrame, result: QualityResult,
                   book: RuleBook, cities: list[str], export_meta: dict[str, Any],
                   plan_meta: dict[str, Any] | None, snapshot: dict[str, Any],
                   previous: dict[str, Any] | None) -> dict[str, Any]:
    """Everything the template shows, computed from the findings (no arithmetic in the template)."""
    f = result.findings
    export = export.reset_index(drop=True)
    valid = pd.Series(result.valid.values, index=export.index)
    counts = rule_counts(f)
    prev_counts = previous["rule_counts"] if previous else None
    warnings = f[f.severity == "warning"]
    row_warnings = warnings.dropna(subset=["source_row"])

    # per rule
    rules = []
    for rule in book.rules.values():
        n = counts.get(rule.id, 0)
        before = None if prev_counts is None else prev_counts.get(rule.id, 0)
        rules.append({"id": rule.id, "blocking": rule.blocking, "severity": SEVERITY_ZH[rule.severity],
                      "engine": "GX" if rule.engine == "gx" else "补充检查", "field": rule.field,
                      "description": rule.description, "count": n, "unit": SCOPE_UNIT[rule.scope],
                      "previous": before, "change": _change(n, before)})

    # per city, in administrative order, then rows whose city is not a target city
    rec_city = export["city"].map(lambda c: _city_of(c, cities))
    plan_count = plan.groupby("city").size()
    matched = set(export["plan_key"].dropna())
    missing = plan[~is_in(plan["plan_key"], matched)].groupby("city").size()
    warn_city = row_warnings.assign(c=row_warnings["city"].map(lambda c: _city_of(c, cities)))
    warn_rows = warn_city.groupby("c")["source_row"].nunique()
    not_in_plan = warn_city[warn_city.rule_id == "NOT_IN_PLAN"].groupby("c")["source_row"].nunique()
    city_rows = []
    names = list(cities) + ([OTHER_CITY] if (rec_city == OTHER_CITY).any() else [])
    prev_city = previous["city_quarantined"] if previous else None
    for name in names:
        in_city = rec_city == name
        quarantined = int((in_city & ~valid).sum())
        before = None
        if prev_city is not None:
            before = (sum(v for k, v in prev_city.items() if k not in cities)
                      if name == OTHER_CITY else prev_city.get(name, 0))
        city_rows.append({
            "city": name, "plan": int(plan_count.get(name, 0)), "rows": int(in_city.sum()),
            "accepted": int((in_city & valid).sum()), "quarantined": quarantined,
            "previous": before, "change": _change(quarantined, before),
            "warning_rows": int(warn_rows.get(name, 0)), "not_in_plan": int(not_in_plan.get(name, 0)),
            "missing": int(missing.get(name, 0)),
        })

    # rule × city: the distribution of the rules that were found this month
    matrix_rules = [r for r in rules if r["count"]]
    by_rule_city: dict[tuple[str, str], int] = {}
    keyed = f.assign(c=f["city"].map(lambda c: _city_of(c, cities)),
                     unit=f["source_row"].astype("string").fillna(
                         f["value"].astype("string").fillna("")))
    for (rule_id, city), n in keyed.groupby(["rule_id", "c"])["unit"].nunique().items():
        by_rule_city[(rule_id, city)] = int(n)
    matrix = [{"id": r["id"], "blocking": r["blocking"], "total": r["count"],
               "cells": [by_rule_city.get((r["id"], c), 0) for c in names]} for r in matrix_rules]

    # the quarantined rows, each with its blocking findings
    blocking = f[(f.severity == "blocking")].dropna(subset=["source_row"])
    # the rows with a finding (quarantined or warned about), as dicts: a few percent of a month
    # (only the columns shown: the whole record, with its raw line, would be copied for nothing)
    shown = [c for c in SHOWN_COLUMNS if c in export.columns]
    by_row = {r["source_row"]: r for r in export.loc[export["source_row"].isin(
        set(f["source_row"].dropna().astype(int))), shown].to_dict("records")}
    problems: dict[int, list[dict[str, Any]]] = {}
    for x in blocking.itertuples(index=False):
        problems.setdefault(int(x.source_row), []).append(
            {"rule_id": x.rule_id, "description": book[x.rule_id].description, "field": x.field,
             "value": x.value})
    quarantined = []
    for source_row in sorted(problems):
        rec = by_row[source_row]
        quarantined.append({"source_row": source_row, "project_id": rec.get("project_id") or EMPTY,
                            "place": _place(rec), "problems": problems[source_row]})

    # warnings, per rule (the first ones; every one is in findings.csv)
    warning_groups = []
    for rule in book.rules.values():
        if rule.blocking:
            continue
        group = warnings[warnings.rule_id == rule.id]
        if group.empty:
            continue
        items = []
        for x in group.head(WARNINGS_SHOWN_PER_RULE).itertuples(index=False):
            rec = None if pd.isna(x.source_row) else by_row[int(x.source_row)]
            place = _place(rec) if rec else " ".join(
                str(v) for v in (x.city, x.source_file) if isinstance(v, str))
            items.append({"source_row": "" if rec is None else int(x.source_row),
                          "project_id": x.project_id if isinstance(x.project_id, str) else "",
                          "place": place, "field": x.field, "value": x.value})
        warning_groups.append({"id": rule.id, "description": rule.description,
                               "total": len(group), "rows": items,
                               "more": max(0, len(group) - WARNINGS_SHOWN_PER_RULE)})

    gx_stats = result.gx_result.get("statistics", {})
    files = [_file_section(export_meta, "管理系统导出表")]
    if plan_meta:
        files.append(_file_section(plan_meta, "计划项目汇总表（附件2）"))
    summary = {
        "read": result.rows_read, "accepted": result.rows_accepted,
        "quarantined": result.rows_quarantined,
        "warning_rows": int(row_warnings["source_row"].nunique()),
        "warnings": int(len(warnings)),
        "skipped": sum(1 for s in export_meta["skipped"] if s["reason"] != "title"),
        "previous_read": previous["rows_read"] if previous else None,
        "previous_quarantined": previous["rows_quarantined"] if previous else None,
        "quarantined_change": _change(result.rows_quarantined,
                                      previous["rows_quarantined"] if previous else None),
    }
    return {
        "month": str(month), "month_zh": month.label_zh(), "previous_month_zh": month.previous().label_zh(),
        "has_previous": previous is not None,
        "snapshot": {"name": snapshot["name"], "date": snapshot["date"].isoformat(),
                     "sha256": snapshot["sha256"]},
        "links": {"gx": GX_RESULT_PATH, "findings": FINDINGS_PATH, "quarantine": QUARANTINE_PATH},
        "summary": summary, "rules": rules, "cities": city_rows, "matrix_cities": names,
        "matrix": matrix, "quarantined": quarantined, "warning_groups": warning_groups,
        "warnings_shown": WARNINGS_SHOWN_PER_RULE, "files": files,
        "gx": {"suite": result.gx_result.get("suite_name", ""),
               "evaluated": gx_stats.get("evaluated_expectations", 0),
               "successful": gx_stats.get("successful_expectations", 0),
               "unsuccessful": gx_stats.get("unsuccessful_expectations", 0)},
        "plain_rules": [r for r in rules if r["engine"] != "GX"],
    }


def _file_section(meta: dict[str, Any], what: str) -> dict[str, Any]:
    header = f"第{meta['header_row']}行" + (
        f"至第{meta['header_row'] + meta['header_rows'] - 1}行（两行表头）" if meta.get("header_rows", 1) > 1 else "")
    encoding = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8（带BOM）", "gb18030": "GBK/GB18030",
                "utf-16": "UTF-16"}.get(meta.get("encoding") or "", meta.get("encoding") or "")
    delimiter = {",": "逗号", "\t": "制表符", ";": "分号", "|": "竖线"}.get(meta.get("delimiter") or "", "")
    skipped = [{**s, "reason_zh": SKIP_REASONS.get(s["reason"], s["reason"])} for s in meta["skipped"]]
    return {
        "what": what, "file": meta["file"], "sheet": meta.get("sheet") or "",
        "ignored_sheets": meta.get("ignored_sheets") or [], "encoding": encoding,
        "delimiter": delimiter, "header": header, "recognised": len(meta["columns"]),
        "unknown_columns": meta["unknown_columns"], "absent_optional": meta.get("absent_optional", []),
        "skipped": skipped, "blank_rows": meta.get("blank_rows", 0), "rows_read": meta.get("rows_read"),
        "summary_checks": meta.get("summary_checks", []), "notes": meta.get("notes", []),
    }


def write_report(folder: Path, month: Month, export: pd.DataFrame, plan: pd.DataFrame,
                 result: QualityResult, quarantine: pd.DataFrame, book: RuleBook,
                 cities: list[str], export_meta: dict[str, Any], plan_meta: dict[str, Any] | None,
                 snapshot: dict[str, Any], previous: dict[str, Any] | None) -> Path:
    """Write the report and the files beside it into the month's staging ``folder``."""
    write_json(folder / GX_RESULT_PATH, result.gx_result)
    write_findings_csv(folder / FINDINGS_PATH, result.findings, book)
    write_quarantine_csv(folder / QUARANTINE_PATH, quarantine)
    context = report_context(month, export, plan, result, book, cities, export_meta, plan_meta,
                             snapshot, previous)
    html = render("quality_report.html.j2", **context)
    path = folder / "quality_report.html"
    path.write_text(html, encoding="utf-8")
    return path
