"""The data steward's quality report of the sample month (June 2020): its numbers equal the
quarantine file's and the findings file's, it shows last month's, and its links resolve."""
from __future__ import annotations

import csv
import json
from collections import Counter
from html.parser import HTMLParser

import pytest

from supervision import pipeline
from supervision import warehouse as wh
from supervision.quality import load_rules
from supervision.quality_report import OTHER_CITY, rule_counts
from tests.fixtures.runs import month_settings, warehouse_env

MONTH = "2020-06"
CITIES = ["长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市", "张家界市", "益阳市",
          "郴州市", "永州市", "怀化市", "娄底市", "湘西自治州"]


class _Cells(HTMLParser):
    """The text of every element carrying one of the report's data-* attributes."""

    def __init__(self):
        super().__init__()
        self.found: dict[str, dict[str, str]] = {}
        self._open: list[tuple[str, str, list[str]]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        for name in ("data-rule-count", "data-city-quarantined", "data-quarantine-row", "id"):
            if name in attrs:
                self._open.append((tag, f"{name}={attrs[name]}", []))

    def handle_data(self, data):
        for _, _, parts in self._open:
            parts.append(data)

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            _, key, parts = self._open.pop()
            name, value = key.split("=", 1)
            self.found.setdefault(name, {})[value] = "".join(parts).strip()


def _csv(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def june(sample_landing, tmp_path_factory):
    out = tmp_path_factory.mktemp("quality_report")
    with warehouse_env(f"sqlite:///{out / 'warehouse.db'}") as url:
        s = month_settings(sample_landing, out, MONTH)
        pipeline.ingest(s)
        summary = pipeline.check_quality(s)
    folder = out / ".staging" / MONTH
    cells = _Cells()
    cells.feed((folder / "quality_report.html").read_text("utf-8"))
    return {"summary": summary, "folder": folder, "cells": cells, "url": url,
            "quarantine": _csv(folder / "quarantine.csv"),
            "findings": _csv(folder / "quality" / "findings.csv")}


def test_the_sample_month_has_something_to_report(june):
    assert len(june["quarantine"]) >= 5
    assert {f["级别"] for f in june["findings"]} == {"阻断", "警告"}


def test_report_totals_equal_the_quarantine_file(june):
    cells, quarantine = june["cells"], june["quarantine"]
    assert int(cells.found["id"]["quarantined-total"]) == len(quarantine)
    assert june["summary"]["rows_quarantined"] == len(quarantine)
    listed = [int(r) for r in cells.found["data-quarantine-row"]]
    assert listed == [int(q["源文件行号"]) for q in quarantine]


def test_report_counts_per_city_equal_the_quarantine_file(june):
    per_city = Counter(q["市州"] if q["市州"] in CITIES else OTHER_CITY for q in june["quarantine"])
    shown = {city: int(n) for city, n in june["cells"].found["data-city-quarantined"].items()}
    assert list(shown)[:14] == CITIES                     # administrative order
    assert shown == {city: per_city.get(city, 0) for city in shown}
    assert sum(shown.values()) == len(june["quarantine"])


def test_report_counts_per_rule_equal_the_files(june):
    shown = {rule: int(text.split()[0]) for rule, text in june["cells"].found["data-rule-count"].items()}
    book = load_rules()
    assert set(shown) == set(book.rules)
    for rule in book.rules.values():
        if rule.blocking:   # records quarantined for this rule
            expected = sum(rule.id in q["规则编号"].split(",") for q in june["quarantine"])
        elif rule.scope == "row":   # distinct records with the warning
            expected = len({f["源文件行号"] for f in june["findings"] if f["规则编号"] == rule.id})
        else:
            expected = sum(f["规则编号"] == rule.id for f in june["findings"])
        assert shown[rule.id] == expected, rule.id


def test_report_shows_last_months_counts(june):
    engine = wh.connect(june["url"])
    may = rule_counts(wh.read_month(engine, "quality_findings", "2020-05"))
    html = (june["folder"] / "quality_report.html").read_text("utf-8")
    assert may, "May (the previous month) was loaded as the reference month"
    for rule_id, n in may.items():
        row = html.split(f'data-rule-count="{rule_id}"')[1].split("</tr>")[0]
        assert f'<td class="num">{n}</td>' in row, rule_id


def test_report_links_resolve_and_the_gx_result_names_each_rule(june):
    folder = june["folder"]
    for link in set(june["cells"].links):
        assert (folder / link).is_file(), link
    gx = json.loads((folder / "quality" / "gx_validation.json").read_text("utf-8"))
    rules = {r["expectation_config"]["meta"]["rule_id"] for r in gx["results"]}
    assert rules == {r.id for r in load_rules().rules.values() if r.engine == "gx"}
    failing = {r["expectation_config"]["meta"]["rule_id"] for r in gx["results"] if not r["success"]}
    blocking_found = {f["规则编号"] for f in june["findings"] if f["级别"] == "阻断"}
    assert blocking_found <= failing


def test_report_states_the_invariant(june):
    s = june["summary"]
    html = (june["folder"] / "quality_report.html").read_text("utf-8")
    assert s["rows_read"] == s["rows_accepted"] + s["rows_quarantined"]
    assert f"{s['rows_read']} = {s['rows_accepted']} + {s['rows_quarantined']}" in html
