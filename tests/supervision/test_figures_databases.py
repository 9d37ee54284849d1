"""The sample landing area's June 2020 through ingest → quality → figures on SQLite and on a real
PostgreSQL server: every figure table is equal, every table file byte-identical, and ranking.csv
carries the month's figures per SPEC §7 (checked against tests/independent.py, which reads the
landing files with none of the pipeline's code)."""
from __future__ import annotations

import csv

import pytest

from supervision import early_warning, figures, pipeline, spot_check, watch_lists
from supervision import quality_report as qr
from supervision import warehouse as wh
from supervision.config import load_programme
from supervision.months import Month

from tests.fixtures.runs import month_settings, warehouse_env
from tests.independent import month_figures
from tests.supervision.figure_warehouse import comparable

JUNE = Month(2020, 6)
FILES = ["ranking.csv", "ranking.xlsx", "overdue.csv", "overdue.xlsx", "early_warning.csv",
         "early_warning.xlsx", "spot_checks.csv", "spot_checks.xlsx", "basic_category.csv",
         "basic_category.xlsx", "elevators.csv", "elevators.xlsx"]


def _run(landing, out, url):
    with warehouse_env(url):
        s = month_settings(landing, out, str(JUNE))
        pipeline.ingest(s)
        pipeline.check_quality(s)
        summary = pipeline.compute_figures(s)
    engine = wh.connect(url)
    p = load_programme(2020)
    with engine.connect() as conn:
        tables = {
            "figures": figures.read_city_figures(conn, JUNE),
            "previous": figures.read_city_figures(conn, JUNE.previous()),
            "overdue": wh.read_month(conn, "overdue_items", str(JUNE)).sort_values("seq"),
            "warnings": early_warning.read_early_warnings(conn, JUNE),
            "sample": spot_check.read_spot_checks(conn, p, JUNE),
            "basic": watch_lists.read_list(conn, "basic_category_items", JUNE),
            "elevators": watch_lists.read_list(conn, "elevator_works", JUNE),
        }
        # what July's quality report compares with: counted in SQL, and from every record
        counted = pipeline._previous_summary(engine, JUNE)
        whole = qr.month_summary(
            wh.read_month(conn, "quality_findings", str(JUNE), qr.SUMMARY_COLUMNS["findings"]),
            wh.read_month(conn, "monthly_records", str(JUNE), qr.SUMMARY_COLUMNS["records"]))
    engine.dispose()
    assert counted == whole and counted["rows_quarantined"] > 0
    compared = {k: comparable(v) for k, v in tables.items()}
    return summary, {**compared, "quality_summary": counted}, out / ".staging" / str(JUNE)


@pytest.fixture(scope="module")
def both(sample_landing, tmp_path_factory, postgres_server):
    lite = _run(sample_landing, tmp_path_factory.mktemp("lite"),
                f"sqlite:///{tmp_path_factory.mktemp('litedb') / 'warehouse.db'}")
    pg = _run(sample_landing, tmp_path_factory.mktemp("pg"),
              postgres_server.create_database("sample_june"))
    return lite, pg


@pytest.mark.postgres
def test_every_figure_table_is_equal_on_sqlite_and_postgresql(both):
    (s1, t1, _), (s2, t2, _) = both
    assert s1 == s2
    for name in t1:
        assert t1[name] == t2[name], name
    assert len(t1["figures"]) == 15 and len(t1["previous"]) == 15   # May loaded for 较上月
    assert t1["overdue"] and t1["sample"] and t1["basic"] and t1["elevators"]


@pytest.mark.postgres
def test_every_table_file_is_byte_identical(both):
    (_, _, f1), (_, _, f2) = both
    for name in FILES:
        assert (f1 / name).read_bytes() == (f2 / name).read_bytes(), name


@pytest.mark.postgres
def test_ranking_csv_carries_the_months_figures(both, sample_landing):
    (_, _, folder), _ = both
    with open(folder / "ranking.csv", encoding="utf-8-sig", newline="") as f:
        rows = {r["市州"]: r for r in csv.DictReader(f)}
    expected = month_figures(sample_landing, 2020, 6)
    for city, e in expected.items():
        r = rows[city]
        assert int(r["任务数"]) == e["target"] and int(r["累计开工数"]) == e["started"], city
        assert r["开工率"] == repr(e["started"] / e["target"]), city
        assert r["计划投资额"] == f"{e['planned'] / 10000:.4f}", city
        assert r["累计完成投资额"] == f"{e['done'] / 10000:.4f}", city
        assert r["投资完成率"] == repr(e["done"] / e["planned"]), city
        assert r["报送及时率"] == repr(e["timely"] / e["plan"]), city
        assert r["综合得分"] == e["score"], city
    total = rows["全省"]
    assert int(total["累计开工数"]) == sum(e["started"] for e in expected.values())
    assert total["排名"] == "" and total["综合得分"] != ""
