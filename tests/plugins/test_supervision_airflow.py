"""The DAG's Airflow adapters: SMTP through the Airflow connection and the SMTP provider's hook,
which failures Airflow retries and which fail the task at once, and the calendar check."""
from __future__ import annotations

import dataclasses
import json
from collections import Counter

import pytest
from airflow.sdk.exceptions import AirflowFailException

from supervision import delivery, warehouse
from supervision.delivery import DeliveryIncomplete
from supervision.months import Month
from supervision_airflow import sending
from supervision_airflow.checks import check_calendar

CONN = "AIRFLOW_CONN_SUPERVISION_SMTP"


def connection(port: int, **extra) -> str:
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                       "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 5,
                                 "retry_limit": 0, "from_email": "ducha@jst.hunan.example.gov.cn",
                                 **extra}})


@pytest.fixture()
def s(rendered_june, tmp_path):
    return dataclasses.replace(rendered_june, warehouse_url=f"sqlite:///{tmp_path / 'ledger.db'}",
                               outbox_dir=tmp_path / "outbox", delivery="smtp")


def statuses(s) -> Counter:
    return Counter(r["status"] for r in delivery.ledger_rows(warehouse.connect(s.warehouse_url), s.month))


def test_smtp_through_the_airflow_connection(s, smtp_server, monkeypatch):
    monkeypatch.setenv(CONN, connection(smtp_server.port))
    result = sending.send(s)
    assert result["channel"] == "smtp" and result["recipients_sent"] == 168
    assert len(smtp_server.received) == 42
    # the sender is the connection's from_email, on the envelope and in the header
    assert {m["From"] for _, m in smtp_server.received} == {"ducha@jst.hunan.example.gov.cn"}
    assert not (s.outbox_dir / s.month).exists()
    # a retry or a clear of the task sends nothing again
    assert sending.send(s)["recipients_sent"] == 0 and len(smtp_server.received) == 42


def test_an_unreachable_server_is_retried_by_airflow(s, monkeypatch):
    monkeypatch.setenv(CONN, connection(1))
    with pytest.raises(DeliveryIncomplete) as err:
        sending.send(s)
    assert err.value.retryable and not isinstance(err.value, AirflowFailException)
    assert "cannot be reached" in str(err.value)
    assert statuses(s) == Counter({"failed": 4})


def test_a_missing_connection_fails_at_once(s, monkeypatch):
    monkeypatch.delenv(CONN, raising=False)
    with pytest.raises(AirflowFailException, match="supervision_smtp"):
        sending.send(s)


def test_a_bad_recipients_file_fails_at_once(s, smtp_server, monkeypatch, tmp_path):
    monkeypatch.setenv(CONN, connection(smtp_server.port))
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "recipients.csv").write_text("市州,单位,类别,邮箱\n长沙市,长沙市住房和城乡建设局,主送,nobody\n", "utf-8")
    with pytest.raises(AirflowFailException, match="not an e-mail address"):
        sending.send(dataclasses.replace(s, inputs_dir=landing))
    assert smtp_server.received == []


def test_a_permanent_refusal_fails_and_a_temporary_one_is_retried(s, smtp_server, monkeypatch):
    monkeypatch.setenv(CONN, connection(smtp_server.port))
    smtp_server.refuse["czj@huaihua.example.gov.cn"] = "450 4.2.1 mailbox busy"
    with pytest.raises(DeliveryIncomplete) as err:
        sending.send(s)
    assert err.value.retryable
    smtp_server.refuse["czj@huaihua.example.gov.cn"] = "550 5.1.1 no such mailbox"
    with pytest.raises(AirflowFailException, match="550"):
        sending.send(s)
    assert statuses(s) == Counter({"sent": 165, "failed": 3})


def test_the_outbox_is_the_embedded_default(s):
    result = sending.send(dataclasses.replace(s, delivery="outbox"))
    assert result["channel"] == "outbox" and len(list((s.outbox_dir / s.month).glob("*.eml"))) == 42


def test_the_calendar_check_passes_for_the_sample_programme(rendered_june):
    result = check_calendar(rendered_june)
    assert result["next_month"] == "2020-07" and result["next_publication"] == "2020-08-03"
    assert result["error"] is None and result["warning"] is None


def test_the_calendar_check_fails_the_task_when_the_next_run_cannot_be_scheduled(rendered_june, monkeypatch):
    from supervision.schedule import PublicationSchedule, Window

    monkeypatch.setattr(PublicationSchedule, "from_config",
                        classmethod(lambda cls, config_dir=None: cls((Window(Month(2026, 5), Month(2027, 1)),))))
    with pytest.raises(AirflowFailException, match="2027"):
        check_calendar(dataclasses.replace(rendered_june, report_month=Month(2026, 11)))
    warned = check_calendar(dataclasses.replace(rendered_june, report_month=Month(2026, 10)))
    assert "2027" in warned["warning"] and warned["error"] is None
