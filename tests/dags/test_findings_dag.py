"""A month's findings through the real DAG ``renovation_spot_check_findings`` (``dag.test()``,
the approval marked as given, as ``make findings`` does): findings, bulletin, mails in the
outbox once; a second run sends nothing."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from tests.fixtures import findings as ff
from tests.fixtures.runs import warehouse_env

ROOT = Path(__file__).resolve().parents[2]


def _run(s):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["renovation_spot_check_findings"]
    with warehouse_env(s.warehouse_url):
        return dag.test(
            logical_date=datetime(2020, 7, 14, 1, tzinfo=timezone.utc),
            run_conf={"report_month": s.month, "inputs_dir": str(s.inputs_dir),
                      "output_dir": str(s.output_dir)},
            mark_success_pattern="steward_approval")


@pytest.mark.airflow
def test_findings_through_the_dag(airflow_db, rendered_june, tmp_path):
    s = ff.own_copy(rendered_june, tmp_path)
    rows = ff.sample_rows(s)[3]
    ff.fill(s, {0: {"核实改造状态": "未开工"}, 1: dict.fromkeys(ff.FILL_IN)})
    run = _run(s)
    assert str(getattr(run.state, "value", run.state)) == "success"
    folder = Path(s.output_dir) / s.month / "spot_checks"
    found = pd.read_csv(folder / "findings.csv", dtype=str, encoding="utf-8-sig")
    assert len(found) == len(rows) and (found.结论 == "NOT_CHECKED").sum() == 1
    assert (folder / "falsification_bulletin.pdf").is_file()
    mails = sorted((Path(s.output_dir) / "outbox" / s.month).glob("falsification_bulletin_*.eml"))
    assert len(mails) == 14                          # one message per city (主送 + 抄送)
    again = _run(s)
    assert str(getattr(again.state, "value", again.state)) == "success"
    assert len(sorted((Path(s.output_dir) / "outbox" / s.month).glob("falsification_bulletin_*"))) == 14
