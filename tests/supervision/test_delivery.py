"""Delivery, exactly once per (month, document, recipient), against a real SMTP server (aiosmtpd)
on localhost: a failure in the middle of a batch resends only what did not go, a full rerun sends
nothing, a refused recipient is retried alone, and a lost answer is never resent on its own."""
from __future__ import annotations

import dataclasses
import shutil
import email
import smtplib
from collections import Counter
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import text

from supervision import delivery, pipeline, warehouse
from supervision.delivery import (DeliveryIncomplete, OutboxTransport, SmtpTransport,
                                  claim, ledger_rows, settle, settle_unresolved)
from supervision.errors import InputFileError
from tests.fixtures.runs import warehouse_env

MONTH = "2020-06"
SENDER = "renovation-supervision@example.gov.cn"


def smtp_transport(server) -> SmtpTransport:
    return SmtpTransport(lambda: smtplib.SMTP("127.0.0.1", server.port, timeout=10), SENDER)


# --------------------------------------------------------------------------- a month to deliver

@pytest.fixture()
def s(rendered_june, tmp_path):
    """The month's settings with a warehouse (and so a ledger) of the test's own."""
    return dataclasses.replace(rendered_june, warehouse_url=f"sqlite:///{tmp_path / 'ledger.db'}",
                               outbox_dir=tmp_path / "outbox")


def expected_deliveries(s) -> set[tuple[str, str]]:
    from supervision.config import programme_for_month
    from supervision.landing import recipients_file

    recipients = delivery.read_recipients(recipients_file(s.inputs_dir))
    messages = pipeline.outgoing_messages(s, programme_for_month(s.report_month), recipients)
    return {(m.document, r.email) for m in messages for r in m.recipients}


def statuses(s) -> Counter:
    return Counter(r["status"] for r in ledger_rows(warehouse.connect(s.warehouse_url), s.month))


# --------------------------------------------------------------------------- exactly once

def test_exactly_once_across_a_failure_mid_batch_and_a_full_rerun(s, smtp_server, monkeypatch):
    expected = expected_deliveries(s)
    assert len(expected) == 168   # 14 cities x (月度通报 + 年中通报 + 督办通知) x 4 addresses

    # attempt 1, one pass only: the server answers the 10th message with "421 try later"; the
    # try carries on with the others and fails retryably, naming what is left
    monkeypatch.setenv("SUPERVISION_SEND_ROUNDS", "1")
    smtp_server.fail_data_at = 10
    with pytest.raises(DeliveryIncomplete) as err:
        pipeline.send(s, smtp_transport(smtp_server))
    assert err.value.retryable                       # Airflow retries this
    assert "4 of 168 deliveries still to send: 衡阳市" in str(err.value)
    assert len(smtp_server.received) == 41
    assert statuses(s) == Counter({"sent": 164, "failed": 4})

    # attempt 2 (the retry): only what did not go
    smtp_server.fail_data_at = None
    result = pipeline.send(s, smtp_transport(smtp_server))
    assert result["recipients_sent"] == 4 and result["recipients_skipped"] == 164
    assert result["channel"] == "smtp"

    # a full rerun of the month, every stage again: documents replaced, nothing sent twice
    with warehouse_env(s.warehouse_url):
        for stage in (pipeline.ingest, pipeline.check_quality, pipeline.compute_figures,
                      pipeline.render_documents):
            stage(s)
    rerun = pipeline.send(s, smtp_transport(smtp_server))
    assert rerun["recipients_sent"] == 0 and rerun["recipients_skipped"] == 168

    got = smtp_server.deliveries()
    assert set(got) == expected and set(got.values()) == {1}
    assert statuses(s) == Counter({"sent": 168})


def test_the_bulletin_goes_to_the_three_departments_with_cc_to_the_government(s, smtp_server):
    pipeline.send(s, smtp_transport(smtp_server))
    bulletins = [m for _, m in smtp_server.received if m["X-Supervision-Document"] == "monthly_bulletin"]
    assert len(bulletins) == 14
    changsha = next(m for m in bulletins if "@changsha." in m["To"])
    assert [a.addr_spec for a in changsha["To"].addresses] == [
        "zjj@changsha.example.gov.cn", "fgw@changsha.example.gov.cn", "czj@changsha.example.gov.cn"]
    assert [a.addr_spec for a in changsha["Cc"].addresses] == ["zf@changsha.example.gov.cn"]
    assert changsha["Subject"] == "关于2020年6月全省城镇老旧小区改造工作进展情况的通报"
    names = [p.get_filename() for p in changsha.iter_attachments()]
    assert names == ["monthly_bulletin.pdf", "ranking.xlsx"]
    pdf = next(p for p in changsha.iter_attachments() if p.get_filename().endswith(".pdf"))
    assert pdf.get_content() == (s.output_dir / MONTH / "monthly_bulletin.pdf").read_bytes()
    notices = [m for _, m in smtp_server.received if m["X-Supervision-Document"].startswith("notice:")]
    for m in notices:
        code = m["X-Supervision-Document"].split(":")[1]
        assert {a.addr_spec.split("@")[1] for a in m["To"].addresses} == {f"{code}.example.gov.cn"}
        assert [p.get_filename() for p in m.iter_attachments()] == [f"{code}.pdf", f"{code}.xlsx"]


def test_a_refused_recipient_is_reported_and_retried_alone(s, smtp_server):
    smtp_server.refuse["fgw@zhuzhou.example.gov.cn"] = "550 5.1.1 mailbox unavailable"
    with pytest.raises(DeliveryIncomplete) as err:
        pipeline.send(s, smtp_transport(smtp_server))
    assert not err.value.retryable                   # a 5xx: retrying the task cannot help
    assert [(d, r) for d, r, _ in err.value.failed] == [
        ("monthly_bulletin", "fgw@zhuzhou.example.gov.cn"),
        ("mid_year_bulletin", "fgw@zhuzhou.example.gov.cn"),
        ("notice:zhuzhou", "fgw@zhuzhou.example.gov.cn")]
    assert "550" in str(err.value)
    assert statuses(s) == Counter({"sent": 165, "failed": 3})
    before = len(smtp_server.received)

    smtp_server.refuse.clear()                       # the city fixed its mailbox
    result = pipeline.send(s, smtp_transport(smtp_server))
    assert result["recipients_sent"] == 3 and result["messages"] == 3
    resent = smtp_server.received[before:]
    assert [rcpts for rcpts, _ in resent] == [["fgw@zhuzhou.example.gov.cn"]] * 3
    assert set(smtp_server.deliveries().values()) == {1}


def test_a_temporary_refusal_is_retryable(s, smtp_server):
    smtp_server.refuse["zf@yueyang.example.gov.cn"] = "450 4.2.1 mailbox busy"
    with pytest.raises(DeliveryIncomplete) as err:
        pipeline.send(s, smtp_transport(smtp_server))
    assert err.value.retryable


def test_a_lost_answer_is_never_resent_until_an_operator_settles_it(s, smtp_server):
    smtp_server.hang_up_at = 3
    # the try it happens on: the other messages go, and the try fails for a person at once,
    # naming the recipients, the Message-ID and the settle command (not a bare disconnect)
    with pytest.raises(DeliveryIncomplete) as err:
        pipeline.send(s, smtp_transport(smtp_server))
    assert not err.value.retryable and len(err.value.unresolved) == 4
    third = smtp_server.received[2][1]
    text_ = str(err.value)
    assert f"{third['X-Supervision-Document']} to 长沙市 (Message-ID {third['Message-ID']})" in text_
    assert "zjj@changsha.example.gov.cn" in text_ and "zf@changsha.example.gov.cn" in text_
    assert f"python -m supervision.cli delivery {MONTH} --settle sent|failed --message-id " \
           f"'{third['Message-ID']}'" in text_
    assert statuses(s) == Counter({"sent": 164, "unknown": 4})
    smtp_server.hang_up_at = None

    # a clear of the task sends nothing more: the unknown message is never resent on its own
    with pytest.raises(DeliveryIncomplete) as err:
        pipeline.send(s, smtp_transport(smtp_server))
    assert not err.value.retryable and len(err.value.unresolved) == 4
    assert statuses(s) == Counter({"sent": 164, "unknown": 4})
    # the server did take it: each recipient has it once
    assert set(smtp_server.deliveries().values()) == {1} and len(smtp_server.deliveries()) == 168

    # the mail log shows it arrived: settle as sent; nothing more goes out
    engine = warehouse.connect(s.warehouse_url)
    assert settle_unresolved(engine, MONTH, "sent", note="checked the mail log") == 4
    assert pipeline.send(s, smtp_transport(smtp_server))["recipients_sent"] == 0
    assert len(smtp_server.received) == 42


def test_a_stopped_server_is_a_retryable_connection_failure(s, smtp_server):
    transport = SmtpTransport(lambda: smtplib.SMTP("127.0.0.1", 1, timeout=2), SENDER)
    with pytest.raises(DeliveryIncomplete) as err:
        pipeline.send(s, transport)
    assert err.value.retryable and "cannot be reached" in str(err.value)
    assert "168 of 168 deliveries still to send: 长沙市, 株洲市" in str(err.value)
    assert statuses(s) == Counter({"failed": 4})     # the first message's claims, released
    assert pipeline.send(s, smtp_transport(smtp_server))["recipients_sent"] == 168


# --------------------------------------------------------------------------- ledger claims

@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_claim_is_exclusive_and_a_failure_can_be_claimed_again(database, tmp_path, request):
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'claims.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database("ledger_claims")
    engine = warehouse.connect(url)
    args = (MONTH, "monthly_bulletin", "zjj@changsha.example.gov.cn")
    assert claim(engine, *args, "smtp", "<id>", "2020-07-02T01:00:00+00:00")
    assert not claim(engine, *args, "smtp", "<id>", "2020-07-02T01:00:01+00:00")   # taken
    settle(engine, *args, "failed", error="421")
    assert claim(engine, *args, "smtp", "<id>", "2020-07-02T01:02:00+00:00")       # retry
    settle(engine, *args, "sent", at="2020-07-02T01:02:00+00:00")
    assert not claim(engine, *args, "smtp", "<id>", "2020-07-02T01:03:00+00:00")   # never twice
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, sent_at, error FROM delivery_ledger")).fetchall()
    assert [tuple(r) for r in rows] == [("sent", "2020-07-02T01:02:00+00:00", None)]
    engine.dispose()


# --------------------------------------------------------------------------- outbox and data errors

def test_the_outbox_writes_one_eml_per_message_and_never_overwrites(s):
    result = pipeline.send(s)
    files = sorted((s.outbox_dir / MONTH).glob("*.eml"))
    assert result["channel"] == "outbox" and len(files) == result["messages"] == 42
    assert (s.outbox_dir / MONTH / "monthly_bulletin_changsha.eml").is_file()
    assert (s.outbox_dir / MONTH / "notice_changsha.eml").is_file()
    m = email.message_from_bytes((s.outbox_dir / MONTH / "notice_changsha.eml").read_bytes(),
                                 policy=policy.default)
    assert m["Subject"] == "关于督促加快长沙市城镇老旧小区改造工作的通知"
    # settle one recipient as failed: the next run writes a second file for it alone
    engine = warehouse.connect(s.warehouse_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE delivery_ledger SET status = 'failed' WHERE recipient = "
                          "'zf@changsha.example.gov.cn' AND document = 'notice:changsha'"))
    assert pipeline.send(s)["recipients_sent"] == 1
    again = email.message_from_bytes((s.outbox_dir / MONTH / "notice_changsha.2.eml").read_bytes(),
                                     policy=policy.default)
    # the same message with its full header (To, Cc, Message-ID), to the one still to receive it
    for header in ("To", "Cc", "Message-ID", "Subject"):
        assert again[header] == m[header]
    assert again["X-Envelope-To"] == "zf@changsha.example.gov.cn"
    assert m["X-Envelope-To"] == ", ".join(a.addr_spec for h in ("To", "Cc") for a in m[h].addresses)


def _recipients(s, tmp_path, text_: str):
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copytree(s.inputs_dir / "targets", landing / "targets")  # the year's target cities
    (landing / "recipients.csv").write_text(text_, "utf-8")
    return dataclasses.replace(s, inputs_dir=landing)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace(",主送,zjj@changsha", ",正文,zjj@changsha"), "类别 must be 主送 or 抄送"),
    (lambda t: t.replace("zjj@changsha.example.gov.cn", "zjj.changsha.example.gov.cn"), "not an e-mail"),
    (lambda t: "\n".join(l for l in t.splitlines() if "@zhuzhou" not in l), "株洲市 has no 主送"),
    (lambda t: "\n".join(l for l in t.splitlines() if "zf@xiangtan" not in l), "湘潭市 has no 抄送"),
    (lambda t: t + "长沙,长沙市财政局,主送,x@changsha.example.gov.cn\n", "unknown 市州 长沙"),
    (lambda t: t + "长沙市,长沙市财政局,主送,czj@changsha.example.gov.cn\n", "listed twice"),
    (lambda t: t.replace("邮箱", "email"), "required column missing: 邮箱"),
])
def test_a_bad_recipients_file_stops_before_anything_is_sent(s, tmp_path, edit, message):
    original = (s.inputs_dir / "recipients.csv").read_text("utf-8")
    bad = _recipients(s, tmp_path, edit(original))
    with pytest.raises(InputFileError, match=message):
        pipeline.send(bad)
    assert statuses(bad) == Counter()
    assert not (bad.outbox_dir / MONTH).exists()


def test_missing_attachments_stop_before_anything_is_sent(s, tmp_path):
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(s.output_dir / MONTH, copy / MONTH)
    (copy / MONTH / "ranking.xlsx").unlink()
    moved = dataclasses.replace(s, output_dir=copy)
    with pytest.raises(delivery.DeliveryDataError, match="ranking.xlsx"):
        pipeline.send(moved)
    assert statuses(moved) == Counter()


def test_smtp_chosen_without_a_transport_is_refused(s):
    with pytest.raises(delivery.DeliveryDataError, match="SUPERVISION_DELIVERY=smtp"):
        pipeline.send(dataclasses.replace(s, delivery="smtp"))


def test_a_run_with_send_off_sends_nothing(s, smtp_server):
    result = pipeline.send(dataclasses.replace(s, send=False), smtp_transport(smtp_server))
    assert result["sent"] is False and smtp_server.received == [] and statuses(s) == Counter()


def test_outbox_transport_is_atomic_and_named_by_message(tmp_path):
    out = OutboxTransport(tmp_path)
    m = email.message.EmailMessage()
    m["X-Supervision-Slug"] = "monthly_bulletin_changsha"
    m.set_content("x")
    assert out.send(m, ["a@b.cn"]) == {} and out.send(m, ["c@b.cn"]) == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monthly_bulletin_changsha.2.eml",
                                                          "monthly_bulletin_changsha.eml"]
    assert not list(Path(tmp_path).glob("*.tmp"))


def test_an_operator_settles_an_unknown_outcome_as_failed_and_it_is_sent(s, smtp_server, monkeypatch,
                                                                          capsys):
    from supervision import cli

    smtp_server.hang_up_at = 1
    with pytest.raises(DeliveryIncomplete):
        pipeline.send(s, smtp_transport(smtp_server))
    smtp_server.hang_up_at = None
    del smtp_server.received[0]           # say the server lost it after all
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", s.warehouse_url)
    assert cli.main(["delivery", MONTH]) == 0
    out = capsys.readouterr().out
    assert "unknown 4" in out and "  unknown    zjj@changsha.example.gov.cn" in out
    assert cli.main(["delivery", MONTH, "--settle", "failed", "--document", "monthly_bulletin"]) == 0
    assert "settled 4 unresolved deliveries of 2020-06 as failed" in capsys.readouterr().out
    assert pipeline.send(s, smtp_transport(smtp_server))["recipients_sent"] == 4
    assert set(smtp_server.deliveries().values()) == {1} and len(smtp_server.deliveries()) == 168
