"""What a steward's answer means, and its record in the warehouse."""
from datetime import datetime, timezone

import pytest

from supervision import approvals, warehouse
from supervision.settings import RunSettings


@pytest.fixture()
def s(tmp_path):
    return RunSettings.resolve({"report_month": "2020-06", "output_dir": str(tmp_path)})


AT = datetime(2020, 7, 3, 2, 15, tzinfo=timezone.utc)


@pytest.mark.parametrize("chosen, timed_out, decision, sends", [
    (["Approve"], False, "approved", True),
    (["Reject"], False, "rejected", False),
    (["Reject"], True, "timed_out", False),     # the default option applied by the timeout
    ([], False, "rejected", False),             # anything but an explicit approval sends nothing
])
def test_an_answer_is_a_decision(s, chosen, timed_out, decision, sends):
    d = approvals.from_response(s, "manual__1", chosen, {"id": "wang", "name": "王数据"}, AT, timed_out)
    assert (d.decision, d.sends) == (decision, sends)
    assert d.decided_at == "2020-07-03T02:15:00+00:00" and d.decided_by == "王数据"
    assert d.quality_report.endswith("/2020-06/quality_report.html")


def test_decisions_are_recorded_and_kept(s, tmp_path):
    engine = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    approvals.record(engine, approvals.from_response(s, "scheduled__a", ["Reject"], None,
                                                     "2020-07-03T02:15:00+00:00", True))
    approvals.record(engine, approvals.from_response(s, "manual__b", ["Approve"], {"id": "wang"}, AT.replace(hour=3), False))
    approvals.record(engine, approvals.not_required(s, "backfill__c", now=AT.replace(hour=4)))
    rows = approvals.decisions(engine, "2020-06")
    assert [(r["run_id"], r["decision"], r["decided_by"]) for r in rows] == [
        ("scheduled__a", "timed_out", None), ("manual__b", "approved", "wang"),
        ("backfill__c", "not_required", None)]
    assert approvals.decisions(engine, "2020-07") == []


def test_the_request_links_the_quality_report_and_carries_the_calendar_warning(s):
    text = approvals.request_text(s, {"rows_read": 1000, "rows_accepted": 981, "rows_quarantined": 19,
                                      "findings": 57}, "2027 年的工作日历尚未载入",
                                  "http://airflow:8080/dags/x/runs/y/tasks/steward_approval/required_actions")
    assert s.month_url("quality_report.html") in text
    assert "读取 1000 行，接受 981 行，隔离 19 行" in text
    assert "required_actions" in text and "2027 年的工作日历尚未载入" in text
    assert "驳回或逾期未处理" in text
