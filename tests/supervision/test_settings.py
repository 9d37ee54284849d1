from datetime import datetime, timezone

import pytest

from supervision.settings import RunSettings


def test_report_month_from_conf_wins():
    s = RunSettings.resolve({"report_month": "2020-06"}, datetime(2020, 9, 2, tzinfo=timezone.utc))
    assert s.month == "2020-06"


def test_month_from_the_data_interval_in_china_time():
    # the interval of the run published on 2 July starts on 2 June 09:00 Asia/Shanghai = 01:00 UTC;
    # a start at 1 June 16:00 UTC is already 2 June 00:00 in China
    s = RunSettings.resolve({}, datetime(2020, 5, 31, 16, 30, tzinfo=timezone.utc))
    assert s.month == "2020-06"


def test_backfills_send_nothing_unless_asked():
    start = datetime(2020, 6, 2, 1, tzinfo=timezone.utc)
    assert RunSettings.resolve({}, start, is_backfill=True).send is False
    assert RunSettings.resolve({"send": True}, start, is_backfill=True).send is True
    assert RunSettings.resolve({}, start).send is True


def test_unknown_conf_keys_are_refused():
    with pytest.raises(ValueError, match="report_mnth"):
        RunSettings.resolve({"report_mnth": "2020-06"})


def test_no_month_at_all_is_refused():
    with pytest.raises(ValueError, match="report_month"):
        RunSettings.resolve({})


def test_outbox_follows_the_output_dir(tmp_path):
    s = RunSettings.resolve({"report_month": "2020-06", "output_dir": str(tmp_path)})
    assert s.outbox_dir == tmp_path / "outbox"


def test_delivery_is_the_outbox_unless_the_deployment_chooses_smtp(monkeypatch):
    monkeypatch.delenv("SUPERVISION_DELIVERY", raising=False)
    monkeypatch.delenv("SUPERVISION_SMTP_CONN_ID", raising=False)
    s = RunSettings.resolve({"report_month": "2020-06"})
    assert (s.delivery, s.smtp_conn_id) == ("outbox", "supervision_smtp")
    monkeypatch.setenv("SUPERVISION_DELIVERY", "SMTP")
    monkeypatch.setenv("SUPERVISION_SMTP_CONN_ID", "province_mail")
    s = RunSettings.resolve({"report_month": "2020-06"})
    assert (s.delivery, s.smtp_conn_id) == ("smtp", "province_mail")
    monkeypatch.setenv("SUPERVISION_DELIVERY", "fax")
    with pytest.raises(ValueError, match="SUPERVISION_DELIVERY"):
        RunSettings.resolve({"report_month": "2020-06"})


def test_links_to_the_month_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPERVISION_OUTPUT_BASE_URL", raising=False)
    s = RunSettings.resolve({"report_month": "2020-06", "output_dir": str(tmp_path)})
    assert s.month_url("quality_report.html") == (tmp_path / "2020-06" / "quality_report.html").as_uri()
    monkeypatch.setenv("SUPERVISION_OUTPUT_BASE_URL", "https://reports.jst.example.gov.cn/supervision/")
    assert s.month_url("notices/长沙.pdf") == \
        "https://reports.jst.example.gov.cn/supervision/2020-06/notices/%E9%95%BF%E6%B2%99.pdf"
