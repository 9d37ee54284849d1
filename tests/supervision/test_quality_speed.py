"""The quality stage's faster paths (issue 17) give what the plain ones gave: GX on the converted
frame (:func:`quality.gx_frame`) finds the same rows and writes the same result as on the check
frame's own columns, :func:`quality.is_in` is ``Series.isin``, and last month's summary from a
few warehouse columns is the one from its whole rows."""
from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from supervision import quality
from supervision import quality_report as qr
from supervision.config import load_province
from supervision.ingest import load_export, load_plan, load_targets
from supervision.landing import Snapshot
from tests.fixtures import corpus

CITIES = ["长沙市", "株洲市", "湘西自治州"]


@pytest.fixture()
def check_frame(tmp_path):
    """The check frame of a corpus month with a finding for most rules, and its expectations."""
    landing = tmp_path / "landing"
    corpus.base_landing(landing)
    corpus._xlsx_export(landing, corpus._records(
        HN202000001={"开工日期": "2020-06-31", "审核时间": "2020/13/01", "改造状态": "在建"},
        HN202000002={"项目编号": "HN202000003", "实施责任人电话": "１３８００００００００"},
        HN202000004={"累计完成投资(万元)": -50.5, "社会及居民出资(万元)": -5.0,
                     "监管责任人电话": "13800000000\n"},
        HN202000005={"填报时间": "2020-07-02 10:00", "审核时间": "2020-07-03 10:00",
                     "审核状态": "未知"}))
    province = load_province("hunan")
    targets = load_targets(landing / "targets" / "2020.csv", province)
    plan = load_plan(landing / "plan" / "2020.xlsx", province, CITIES)
    export = load_export(Snapshot(landing / "exports" / f"{corpus.EXPORT_NAME}.xlsx",
                                  date(2020, 7, 1)), province, CITIES)
    book = quality.load_rules()
    frame = quality._check_frame(export.frame.reset_index(drop=True), set(plan.frame.plan_key),
                                 date(2020, 7, 1), book)
    return frame, lambda: quality._expectations(book, list(targets.frame.city))


def test_gx_finds_the_same_on_the_converted_frame(check_frame):
    frame, expectations = check_frame
    converted = quality.gx_frame(frame)
    assert list(converted.columns) == quality.expectation_columns()
    assert converted["built_year"].dtype == converted["funding_gap_over_tolerance"].dtype == np.float64
    assert converted["status_cell"].dtype == object
    assert converted["impl_phone_cell"].dtype == frame["impl_phone_cell"].dtype  # RE2 stays
    fast, fast_json = quality.run_gx(converted, expectations(), "s")
    plain, plain_json = quality.run_gx(frame[quality.expectation_columns()], expectations(), "s")
    assert fast == plain and len(plain) > 5
    assert json.dumps(fast_json, sort_keys=True) == json.dumps(plain_json, sort_keys=True)
    assert {f["rule_id"] for f in fast} >= {"DATE_UNREADABLE", "PROJECT_ID_DUPLICATE",
                                             "MONEY_NEGATIVE", "DATE_AFTER_SNAPSHOT"}


@pytest.mark.parametrize("keys", [{"a", "b"}, {"a", None}, {"a", float("nan")}, set(),
                                  {"a", 1.5}])
def test_is_in_is_isin(keys):
    values = pd.Series(["a", "c", None, "b", "a"], dtype="str")
    assert quality.is_in(values, keys).tolist() == values.isin(keys).tolist()
    ints = pd.Series([1, 2, 3])
    assert quality.is_in(ints, {2}).tolist() == ints.isin({2}).tolist()


def test_last_months_summary_needs_only_its_columns():
    findings = pd.DataFrame({
        "rule_id": ["A", "A", "B"], "source_row": [3, 3, None], "source_file": ["f", "f", None],
        "city": ["长沙市", "长沙市", "株洲市"], "field": ["x", "y", "z"], "value": ["1", "2", "3"],
        "severity": ["blocking"] * 3, "project_id": ["p", "p", None], "seq": [1, 2, 3]},
        dtype=object)
    records = pd.DataFrame({"city": ["长沙市", "株洲市", None], "is_valid": [0, 1, 0],
                            "name": ["n1", "n2", "n3"], "raw": ["r"] * 3}, dtype=object)
    whole = qr.month_summary(findings, records)
    assert qr.month_summary(findings[list(qr.SUMMARY_COLUMNS["findings"])],
                            records[list(qr.SUMMARY_COLUMNS["records"])]) == whole


def test_last_months_summary_from_counted_records():
    """The records counted per city and validity (quality/record_counts.sql) give the summary
    their rows give: a city with no quarantined row is not listed, a missing city is ''."""
    findings = pd.DataFrame({"rule_id": ["A"], "source_row": [3], "source_file": ["f"],
                             "city": ["长沙市"], "field": ["x"], "value": ["1"]}, dtype=object)
    rows = pd.DataFrame({"city": ["长沙市"] * 3 + ["株洲市"] * 2 + [None] * 2 + [""],
                         "is_valid": [0, 1, 0, 1, 1, 0, 0, 1]}, dtype=object)
    counted = pd.DataFrame({"city": ["长沙市", "长沙市", "株洲市", None, ""],
                            "is_valid": [0, 1, 1, 0, 1], "n": [2, 1, 2, 2, 1]}, dtype=object)
    summary = qr.month_summary(findings, counted)
    assert summary == qr.month_summary(findings, rows)
    assert summary["rows_read"] == 8 and summary["rows_quarantined"] == 4
    assert summary["city_quarantined"] == {"长沙市": 2, "": 2}


def _typed(values):
    return [(type(v), repr(v)) for v in values]


def test_records_are_to_dict_records_value_for_value(check_frame):
    """:func:`quality.records` on the month's check frame and on every dtype the frames hold,
    missing values included: the same keys, values and types as ``to_dict("records")``."""
    frame = check_frame[0]
    odd = pd.DataFrame({
        "n": pd.array([1, None, 3], dtype="Int64"), "f": pd.array([1.5, None, 2.0], dtype="Float64"),
        "b": pd.array([True, None, False], dtype="boolean"), "i": np.array([1, 2, 3]),
        "x": np.array([0.5, np.nan, 1.0]), "s": pd.Series(["a", None, "c"], dtype="str"),
        "o": pd.Series([np.int64(4), None, "t"], dtype=object),
        "na": pd.Series(["a", pd.NA, None], dtype="string[pyarrow]")})
    for f in (frame, frame.iloc[:0], odd, odd.iloc[[2, 0]]):
        mine, theirs = quality.records(f), f.to_dict("records")
        assert [list(r) for r in mine] == [list(r) for r in theirs]
        assert [_typed(r.values()) for r in mine] == [_typed(r.values()) for r in theirs]
