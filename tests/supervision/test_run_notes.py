"""The run note's wording (supervision.run_notes) and the month folder's path rules
(supervision.month_index.resolve), without Airflow."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from supervision import month_index, run_notes


def test_the_month_comes_from_the_conf_or_the_data_interval():
    assert run_notes.run_month({"report_month": "2020-07"}, None) == "2020-07"
    # the data interval of June, in Asia/Shanghai (starts 2020-05-31T16:00Z)
    assert run_notes.run_month({}, datetime(2020, 5, 31, 16, tzinfo=timezone.utc)) == "2020-06"
    assert run_notes.run_month({"report_month": None}, datetime(2020, 5, 31, 16, tzinfo=timezone.utc)) == "2020-06"
    assert run_notes.run_month({"bogus": 1}, None) is None


def test_the_decision_says_who_when_and_what_follows():
    at = "2020-07-02T02:15:00+00:00"
    assert run_notes.decision_text({"decision": "approved", "decided_by": "李丽", "decided_at": at},
                                   {"sent": 42}) == "已批准（李丽，2020-07-02 10:15）· 已发送 42 份"
    assert run_notes.decision_text({"decision": "rejected", "decided_by": "李丽", "decided_at": at},
                                   {}) == "已驳回（李丽，2020-07-02 10:15）· 未发送"
    assert "默认驳回" in run_notes.decision_text({"decision": "timed_out", "decided_at": at}, {})
    assert run_notes.decision_text({"decision": "not_required", "decided_at": at}, {}).endswith("未发送")
    assert run_notes.note_text("2020-06", "export_2020-07-01.xlsx", "已驳回 · 未发送") == \
        "数据月 2020-06 · 快照 export_2020-07-01.xlsx · 已驳回 · 未发送"
    assert run_notes.is_ours(None) and run_notes.is_ours("数据月 2020-06")
    assert not run_notes.is_ours("重跑：更正了长沙的数据")      # a person's note is kept


@pytest.fixture()
def out(tmp_path):
    month = tmp_path / "out" / "2020-06"
    (month / "notices").mkdir(parents=True)
    (month / "quality_report.html").write_text("<h1>r</h1>", "utf-8")
    (month / "notices" / "430100.pdf").write_bytes(b"%PDF")
    (tmp_path / "out" / ".staging" / "2020-06").mkdir(parents=True)
    (tmp_path / "secret").write_text("s", "utf-8")
    (month / "link").symlink_to(tmp_path / "secret")
    (month / "inner").symlink_to(month / "quality_report.html")
    return tmp_path / "out"


def test_only_files_of_a_published_month_are_served(out):
    assert month_index.resolve(out, "2020-06", "quality_report.html").name == "quality_report.html"
    assert month_index.resolve(out, "2020-06", "notices/430100.pdf").suffix == ".pdf"
    assert month_index.resolve(out, "2020-06", "inner").name == "quality_report.html"  # stays inside
    assert month_index.months(out) == ["2020-06"]
    for month, path in [("2020-06", "../../secret"), ("2020-06", "notices/../../secret"),
                        ("2020-06", "/etc/passwd"), ("2020-06", "..\\secret"), ("2020-06", "link"),
                        (".staging", "2020-06"), ("2020-13", "x"), ("..", "secret"),
                        ("2020-06", "missing.pdf"), ("2020-06", "notices"), ("2020-06", "a\x00b")]:
        with pytest.raises(month_index.NotServed):
            month_index.resolve(out, month, path)


def test_downloads_and_inline_files():
    from pathlib import Path

    assert month_index.media_type(Path("a.pdf")) == ("application/pdf", True)
    assert month_index.media_type(Path("a.csv"))[1] is False
    assert month_index.media_type(Path("a.xlsx"))[1] is False
    assert month_index.media_type(Path("a.html"))[1] is True
