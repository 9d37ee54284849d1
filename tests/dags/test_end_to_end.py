"""One data month through the real DAG (``dag.test()``) on the sample landing area; its figures
are checked against an independent re-computation from the generated input files."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.fixtures.runs import warehouse_env
from tests.independent import month_figures

ROOT = Path(__file__).resolve().parents[2]
ORDER = ["长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市", "张家界市", "益阳市",
         "郴州市", "永州市", "怀化市", "娄底市", "湘西自治州"]


def _rows(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def june_run(airflow_db, sample_landing, tmp_path_factory):
    """June through Airflow as `make run` has it, the PDFs in the default 2 processes (a
    worker spawned from inside Airflow's task runner)."""
    out = tmp_path_factory.mktemp("out")
    pinned = os.environ.pop("SUPERVISION_PDF_WORKERS", None)
    try:
        return _run_june(sample_landing, out)
    finally:
        if pinned is not None:
            os.environ["SUPERVISION_PDF_WORKERS"] = pinned


def _run_june(sample_landing, out):
    with warehouse_env(f"sqlite:///{out / 'warehouse.db'}"):
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(ROOT / "dags")).dags["renovation_supervision_monthly"]
        dag_run = dag.test(
            logical_date=datetime(2020, 7, 2, 1, tzinfo=timezone.utc),
            run_conf={"report_month": "2020-06", "inputs_dir": str(sample_landing),
                      "output_dir": str(out)},
            mark_success_pattern="steward_approval")
    return dag_run, out


@pytest.mark.airflow
def test_the_run_succeeds_and_writes_the_month_folder(june_run):
    dag_run, out = june_run
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    folder = out / "2020-06"
    for name in ("ranking.csv", "ranking.xlsx", "overdue.csv", "overdue.xlsx", "quarantine.csv",
                 "quality_report.html", "monthly_bulletin.html", "monthly_bulletin.pdf",
                 "manifest.json"):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    # the rendered files, then what the send added (the sent version, sent/v1/, and its index)
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    listed.update({f["path"]: f["sha256"] for f in manifest.get("attached", {}).get("sent", [])})
    assert "sent/versions.json" in listed
    for p in folder.rglob("*"):
        if p.is_file() and p.name != "manifest.json":
            assert listed[p.relative_to(folder).as_posix()] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert manifest["inputs"]["snapshot"]["name"].endswith("_2020-07-01.xlsx")


@pytest.mark.airflow
def test_ranking_matches_an_independent_computation(june_run, sample_landing):
    _, out = june_run
    ranking = _rows(out / "2020-06" / "ranking.csv")
    assert [r["市州"] for r in ranking] == ORDER + ["全省"]
    expected = month_figures(sample_landing, 2020, 6)
    for r in ranking[:-1]:
        e = expected[r["市州"]]
        assert int(r["任务数"]) == e["target"], r["市州"]
        assert int(r["累计开工数"]) == e["started"], r["市州"]
        assert r["计划投资额"] == f"{e['planned'] / 10000:.4f}", r["市州"]
        assert r["累计完成投资额"] == f"{e['done'] / 10000:.4f}", r["市州"]
        assert int(r["报送及时小区数"]) == e["timely"], r["市州"]
        assert r["综合得分"] == e["score"], r["市州"]
    total = ranking[-1]
    assert int(total["累计开工数"]) == sum(e["started"] for e in expected.values())
    assert total["排名"] == ""
    scores = [float(r["综合得分"]) for r in ranking[:-1]]
    assert [int(r["排名"]) for r in ranking[:-1]] == [1 + sum(t > s for t in scores) for s in scores]


@pytest.mark.airflow
def test_overdue_list_and_delivery(june_run):
    _, out = june_run
    overdue = _rows(out / "2020-06" / "overdue.csv")
    assert overdue and {r["原因"] for r in overdue} <= {
        "MISSING_FROM_EXPORT", "DATA_INVALID", "NOT_STARTED_PAST_DEADLINE", "NOT_REPORTED",
        "NOT_REVIEWED", "PLAN_MISMATCH"}
    assert all(r["项目编号"] == "" for r in overdue if r["原因"] == "MISSING_FROM_EXPORT")
    mails = sorted((out / "outbox" / "2020-06").glob("*.eml"))
    assert any(m.name.startswith("monthly_bulletin") for m in mails)
    bulletin = (out / "2020-06" / "monthly_bulletin.html").read_text("utf-8")
    assert not re.search(r"1[3-9]\d{9}", bulletin), "a phone number in a circulated document"
