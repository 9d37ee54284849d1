"""The quality rules (SPEC §4): the rule book and its documentation, what a finding says, the
quarantine, and the month's load into the warehouse (one transaction, replaced on rerun) on
SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from supervision import pipeline
from supervision import warehouse as wh
from supervision.config import load_province
from supervision.ingest import load_export, load_plan, load_targets
from supervision.landing import Snapshot
from supervision.quality import (_expectations, evaluate, load_rules, quarantine_frame,
                                 summary_findings)
from supervision.readers import table_spec
from supervision.settings import RunSettings
from tests.fixtures import corpus

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "data-contract.md"
CITIES = ["长沙市", "株洲市", "湘西自治州"]


# --------------------------------------------------------------------------- the rule book

def test_rule_book_is_consistent_with_the_gx_suite():
    book = load_rules()
    suite = _expectations(book, CITIES)
    in_suite = {e.meta["rule_id"] for e in suite}
    assert in_suite == {r.id for r in book.rules.values() if r.engine == "gx"}
    for e in suite:
        rule = book[e.meta["rule_id"]]
        assert e.severity.value == ("critical" if rule.blocking else "warning")
        assert rule.description in e.description
    assert all(r.scope == "row" for r in book.rules.values() if r.blocking)
    assert all(re.fullmatch(r"[A-Z0-9_]+", r) for r in book.rules)


def _table(marker: str) -> list[list[str]]:
    doc = CONTRACT.read_text("utf-8")
    body = doc.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]
    rows = [line.strip().strip("|").split("|") for line in body.strip().splitlines()[2:]]
    return [[c.strip() for c in r] for r in rows]


def test_the_data_contract_lists_every_rule_as_configured():
    documented = {r[0].strip("`"): tuple(r[1:4]) for r in _table("rules")}
    configured = {r.id: (r.severity, r.engine, r.scope) for r in load_rules().rules.values()}
    assert documented == configured


@pytest.mark.parametrize("kind", ["targets", "plan", "export", "spot_check_findings"])
def test_the_data_contract_lists_every_header_alias(kind):
    documented = {r[0].strip("`"): (r[1], tuple(a for a in r[2].split("; ") if a != "—"), r[3] == "是")
                  for r in _table(f"aliases:{kind}")}
    configured = {f.key: (f.headers[0], f.headers[1:], f.required) for f in table_spec(kind).fields}
    assert documented == configured


# --------------------------------------------------------------------------- findings

@pytest.fixture()
def inputs(tmp_path):
    """Parse a corpus-style landing area: (export frame, plan, targets, export meta)."""
    def load(records=None, **grid):
        landing = tmp_path / "landing"
        corpus.base_landing(landing)
        corpus._xlsx_export(landing, records, **grid)
        province = load_province("hunan")
        targets = load_targets(landing / "targets" / "2020.csv", province)
        plan = load_plan(landing / "plan" / "2020.xlsx", province, CITIES)
        path = landing / "exports" / f"{corpus.EXPORT_NAME}.xlsx"
        export = load_export(Snapshot(path, date(2020, 7, 1)), province, CITIES)
        return export, plan, targets
    return load


def _findings(result) -> list[tuple]:
    f = result.findings
    return [(None if pd.isna(r.source_row) else int(r.source_row), r.rule_id, r.field, r.value)
            for r in f.itertuples(index=False)]


def test_a_finding_names_the_field_and_what_was_found(inputs):
    export, plan, targets = inputs(corpus._records(
        HN202000001={"开工日期": "2020-06-31", "审核时间": "2020/13/01"},   # two unreadable dates
        HN202000002={"项目编号": "HN202000003"},                           # duplicate id
        HN202000004={"累计完成投资(万元)": -50.5, "社会及居民出资(万元)": -5.0},
        HN202000005={"填报时间": "2020-07-02 10:00", "审核时间": "2020-07-03 10:00"}))
    result = evaluate(export.frame, plan.frame, targets.frame, date(2020, 7, 1))
    found = _findings(result)
    assert (4, "DATE_UNREADABLE", "开工日期", "2020-06-31") in found
    assert (4, "DATE_UNREADABLE", "审核时间", "2020/13/01") in found
    assert not any(r == 4 and rule == "START_DATE_MISSING" for r, rule, *_ in found)
    assert (5, "PROJECT_ID_DUPLICATE", "项目编号", "HN202000003（第5、6行）") in found
    assert (6, "PROJECT_ID_DUPLICATE", "项目编号", "HN202000003（第5、6行）") in found
    assert (7, "MONEY_NEGATIVE", "累计完成投资", "-50.5万元") in found
    assert (7, "MONEY_NEGATIVE", "社会及居民出资", "-5万元") in found
    assert (8, "DATE_AFTER_SNAPSHOT", "填报时间", "2020-07-02（快照日期2020-07-01）") in found
    assert (8, "DATE_AFTER_SNAPSHOT", "审核时间", "2020-07-03（快照日期2020-07-01）") in found
    assert result.rows_read == 6 and result.rows_quarantined == 5
    assert set(export.frame.source_row[~result.valid.values]) == {4, 5, 6, 7, 8}


def test_quarantine_keeps_the_row_as_read_with_its_rules(inputs):
    export, plan, targets = inputs(corpus._records(HN202000001={"改造状态": "在建", "开工日期": "六月"}))
    result = evaluate(export.frame, plan.frame, targets.frame, date(2020, 7, 1))
    q = quarantine_frame(export.frame, result, raw=export.raw_lines(~result.valid.values))
    assert len(q) == 1
    row = q.iloc[0]
    assert row.source_row == 4 and row.rule_ids == "DATE_UNREADABLE,STATUS_UNKNOWN"
    assert row.details == "开工日期：六月；改造状态：在建"
    assert "日期无法识别" in row.reasons and "改造状态为空" in row.reasons
    assert json.loads(row.raw)["开工日期"] == "六月"


def test_plan_consistency_ignores_the_order_of_planned_items(inputs):
    export, plan, targets = inputs(corpus._records(
        HN202000002={"计划改造内容": "外墙维修、加装电梯、屋面防水"},     # same items, other order
        HN202000004={"计划改造内容": "排水管网改造"},                      # an item dropped
        HN202000005={"房屋性质": "商品房 "}))                              # spacing only
    result = evaluate(export.frame, plan.frame, targets.frame, date(2020, 7, 1))
    assert [(r, rule, field) for r, rule, field, _ in _findings(result)] == [
        (7, "PLAN_MISMATCH", "计划改造内容")]


def test_backwards_compares_with_last_months_valid_records_only(inputs):
    export, plan, targets = inputs()
    previous = export.frame.assign(is_valid=True)
    previous.loc[previous.project_id == "HN202000001", "done_invest_yuan"] = 10_000_000
    previous.loc[previous.project_id == "HN202000004", ["done_invest_yuan", "is_valid"]] = [9_000_000, False]
    previous.loc[previous.project_id == "HN202000003", "status"] = "已完工"
    previous.loc[previous.project_id == "HN202000006", "status"] = "已完工"
    previous = previous.astype(object)  # as read back from the warehouse
    result = evaluate(export.frame, plan.frame, targets.frame, date(2020, 7, 1), previous)
    assert [(r, rule) for r, rule, *_ in _findings(result)] == [
        (4, "INVEST_BACKWARDS"), (9, "STATUS_BACKWARDS")]
    assert ("30万元（上月：1000万元）") in [v for *_, v in _findings(result)]


def test_summary_findings_come_from_the_files_summary_checks():
    meta = {"file": "e_2020-07-01.xlsx", "summary_checks": [
        {"row": 11, "field": "记录数", "stated": "7", "computed": "6", "ok": False, "unreadable": 0},
        {"row": 11, "field": "计划总投资(万元)", "stated": "475.5", "computed": "475.5", "ok": True,
         "unreadable": 0}]}
    assert summary_findings(meta) == [{
        "rule_id": "SUMMARY_MISMATCH", "field": "记录数", "source_row": None,
        "source_file": "e_2020-07-01.xlsx", "city": None, "project_id": None,
        "value": "第11行合计为7，逐行相加为6"}]


# --------------------------------------------------------------------------- the warehouse load

def _counts(url: str, month: str) -> dict[str, int]:
    engine = wh.connect(url)
    with engine.connect() as conn:
        out = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t} WHERE report_month = :m"),
                               {"m": month}).scalar()
               for t in ("monthly_records", "quality_findings", "quarantine", "month_loads")}
        out["invalid"] = conn.execute(text(
            "SELECT COUNT(*) FROM monthly_records WHERE report_month = :m AND NOT is_valid"),
            {"m": month}).scalar()
        out["plan_communities"] = conn.execute(text(
            "SELECT COUNT(*) FROM plan_communities WHERE programme_year = 2020")).scalar()
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"quality_{request.node.name.split('[')[0][-20:]}")


def test_a_months_load_replaces_the_month_in_one_transaction(warehouse, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    corpus.base_landing(landing)
    # a warning, and two quarantined rows: a duplicate 项目编号
    corpus._xlsx_export(landing, corpus._records(
        HN202000001={"实施责任人电话": "1381234567"}, HN202000003={"项目编号": "HN202000002"}))
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", warehouse)
    s = RunSettings.resolve({"report_month": corpus.MONTH, "inputs_dir": str(landing),
                             "output_dir": str(tmp_path / "out"), "send": False})
    pipeline.ingest(s)
    first = pipeline.check_quality(s)
    counts = _counts(warehouse, corpus.MONTH)
    assert counts == {"monthly_records": 6, "quality_findings": 3, "quarantine": 2,
                      "month_loads": 1, "invalid": 2, "plan_communities": 6}
    assert first["rows_read"] == 6 and first["rows_quarantined"] == 2

    pipeline.check_quality(s)                                   # a rerun replaces, never adds
    assert _counts(warehouse, corpus.MONTH) == counts

    real_replace = wh.replace_month

    def failing(conn, table, month, rows):
        if table == "quarantine":
            raise RuntimeError("the disk is full")
        return real_replace(conn, table, month, rows)

    corpus._xlsx_export(landing)                                # a clean export this time
    pipeline.ingest(s)
    monkeypatch.setattr(wh, "replace_month", failing)
    with pytest.raises(RuntimeError, match="disk is full"):
        pipeline.check_quality(s)
    assert _counts(warehouse, corpus.MONTH) == counts           # nothing of the failed load
    monkeypatch.setattr(wh, "replace_month", real_replace)
    pipeline.check_quality(s)
    assert _counts(warehouse, corpus.MONTH) == {**counts, "quality_findings": 0, "quarantine": 0,
                                                "invalid": 0}
    engine = wh.connect(warehouse)
    loads = wh.read_month(engine, "month_loads", corpus.MONTH).iloc[0]
    assert (loads.rows_read, loads.rows_accepted, loads.rows_quarantined) == (6, 6, 0)
    plan = wh.frame(engine, "SELECT source_file, source_row FROM plan_communities "
                            "WHERE programme_year = 2020")
    assert set(plan.source_file) == {"2020.xlsx"} and sorted(plan.source_row) == list(range(6, 12))


def test_a_warehouse_created_by_older_ddl_is_refused_with_the_fix(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE quarantine (report_month TEXT NOT NULL, "
                          "source_row INTEGER NOT NULL, source_file TEXT NOT NULL, rule_ids TEXT, "
                          "reasons TEXT, PRIMARY KEY (report_month, source_row))"))
    with pytest.raises(wh.SchemaError, match="quarantine lacks the columns project_id, city, "
                                             "county, name, fields, details, raw"):
        wh.create_schema(create_engine(url))
