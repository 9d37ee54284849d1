"""The data steward's monthly quality report: one Chinese HTML page, with the GX validation
result kept beside it (``quality/gx_validation.json``) and linked from it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .documents import render
from .months import Month
from .outputs import write_csv, write_json
from .quality import QualityResult, RuleBook

GX_RESULT_PATH = "quality/gx_validation.json"
SKIP_REASONS = {"title": "表头上方的标题行", "summary": "合计行", "note": "注释行"}
QUARANTINE_HEADER = ["源文件", "源文件行号", "项目编号", "市州", "所在县市区", "小区名称", "规则编号",
                     "问题字段", "原因", "原始数据"]


def rule_counts(findings: pd.DataFrame) -> dict[str, int]:
    """Per rule, the number of records (or cities, for city-level rules) it was found on."""
    if findings.empty:
        return {}
    keyed = findings.assign(unit=findings.source_row.astype("string").fillna("city:" + findings.city.fillna("")))
    return keyed.groupby("rule_id")["unit"].nunique().astype(int).to_dict()


def write_quarantine_csv(path: Path, quarantine: pd.DataFrame) -> Path:
    cols = ["source_file", "source_row", "project_id", "city", "county", "name", "rule_ids",
            "fields", "reasons", "raw"]
    return write_csv(path, QUARANTINE_HEADER, quarantine[cols].itertuples(index=False, name=None))


def write_report(folder: Path, month: Month, export: pd.DataFrame, result: QualityResult,
                 quarantine: pd.DataFrame, book: RuleBook, table_meta: dict[str, Any],
                 snapshot: dict[str, Any], previous_counts: dict[str, int] | None) -> Path:
    write_json(folder / GX_RESULT_PATH, result.gx_result)
    counts = rule_counts(result.findings)
    rules = []
    for rule in book.rules.values():
        n = counts.get(rule.id, 0)
        prev = None if previous_counts is None else previous_counts.get(rule.id, 0)
        rules.append({"id": rule.id, "blocking": rule.blocking, "description": rule.description,
                      "count": n, "previous": prev,
                      "change": "—" if prev is None else f"{n - prev:+d}"})
    f = result.findings
    warnings = f[f.severity == "warning"]
    valid = result.valid.values
    cities = []
    for city, group in export.assign(_valid=valid).groupby("city", dropna=False, sort=False):
        name = city if isinstance(city, str) else "（空）"
        cities.append({"city": name, "rows": len(group), "quarantined": int((~group._valid).sum()),
                       "warnings": int((warnings.city == city).sum()) if isinstance(city, str)
                       else int(warnings.city.isna().sum())})
    html = render(
        "quality_report.html.j2", month=str(month), month_zh=month.label_zh(),
        snapshot={"name": snapshot["name"], "date": snapshot["date"].isoformat(),
                  "sha256": snapshot["sha256"]},
        gx_link=GX_RESULT_PATH,
        counts={"read": result.rows_read, "accepted": result.rows_accepted,
                "quarantined": result.rows_quarantined, "warnings": len(warnings)},
        rules=rules, cities=cities, quarantine=quarantine.to_dict("records"),
        header_row=table_meta["header_row"], unknown_columns=table_meta["unknown_columns"],
        skipped=[{**s, "reason_zh": SKIP_REASONS.get(s["reason"], s["reason"])}
                 for s in table_meta["skipped"]])
    path = folder / "quality_report.html"
    path.write_text(html, encoding="utf-8")
    return path
