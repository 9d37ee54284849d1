"""The ledger view ``python -m supervision.cli delivery M`` (issue 14, item 12): per message its
Message-ID and per delivery its times — what settling an unknown outcome needs — the reason of a
row left ``sending`` by a send that was killed, and ``failed`` rows of an address since replaced
in recipients.csv marked superseded. Real sends on a real SMTP server (aiosmtpd)."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import smtplib
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from supervision import cli, delivery, pipeline, warehouse
from supervision.delivery import DeliveryIncomplete, SmtpTransport

MONTH = "2020-06"
SENDER = "renovation-supervision@example.gov.cn"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def s(rendered_june, tmp_path):
    return dataclasses.replace(rendered_june, warehouse_url=f"sqlite:///{tmp_path / 'ledger.db'}",
                               outbox_dir=tmp_path / "outbox")


def smtp_transport(server) -> SmtpTransport:
    return SmtpTransport(lambda: smtplib.SMTP("127.0.0.1", server.port, timeout=10), SENDER)


def view(s, monkeypatch, capsys, *args: str) -> str:
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", s.warehouse_url)
    assert cli.main(["delivery", MONTH, "--inputs", str(s.inputs_dir), *args]) == 0
    return capsys.readouterr().out


def test_every_delivery_with_its_message_id_and_times(s, smtp_server, monkeypatch, capsys):
    pipeline.send(s, smtp_transport(smtp_server))
    out = view(s, monkeypatch, capsys)
    assert out.startswith("delivery ledger 2020-06: sent 168 (168 deliveries, 42 messages; times UTC)")
    assert "send lock: free" in out
    changsha = next(m for _, m in smtp_server.received
                    if m["X-Supervision-Document"] == "monthly_bulletin" and "@changsha." in m["To"])
    assert f"monthly_bulletin · 长沙市 · Message-ID {changsha['Message-ID']}" in out
    row = next(r for r in delivery.ledger_rows(warehouse.connect(s.warehouse_url), MONTH)
               if r["recipient"] == "zf@changsha.example.gov.cn" and r["document"] == "monthly_bulletin")
    assert row["attempted_at"] <= row["sent_at"]
    assert re.search(rf"\n  sent +zf@changsha\.example\.gov\.cn +attempted {re.escape(row['attempted_at'])} +"
                     rf"sent {re.escape(row['sent_at'])}\n", out)
    assert view(s, monkeypatch, capsys, "--open").count("Message-ID") == 0


def test_a_failed_address_replaced_in_recipients_csv_is_superseded(s, smtp_server, monkeypatch,
                                                                    capsys, tmp_path):
    smtp_server.refuse["fgw@zhuzhou.example.gov.cn"] = "550 5.1.1 no such mailbox"
    with pytest.raises(DeliveryIncomplete):
        pipeline.send(s, smtp_transport(smtp_server))
    out = view(s, monkeypatch, capsys, "--open")
    assert "failed 3" in out and "superseded" not in out
    assert "  failed     fgw@zhuzhou.example.gov.cn" in out and "550 5.1.1 no such mailbox" in out

    # the city gives a new address: the old one is superseded, the new one gets the documents
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copytree(s.inputs_dir / "targets", landing / "targets")   # recipients: the year's cities
    (landing / "recipients.csv").write_text(
        (s.inputs_dir / "recipients.csv").read_text("utf-8").replace(
            "fgw@zhuzhou.example.gov.cn", "fagaiwei@zhuzhou.example.gov.cn"), "utf-8")
    s = dataclasses.replace(s, inputs_dir=landing)
    out = view(s, monkeypatch, capsys, "--open")
    assert "sent 165, superseded 3" in out
    assert ("superseded fgw@zhuzhou.example.gov.cn" in out and "address no longer in recipients.csv, "
            "never resent; 株洲市's new address fagaiwei@zhuzhou.example.gov.cn gets it at the next send "
            "(last failure: 550 5.1.1 no such mailbox)") in out
    result = pipeline.send(s, smtp_transport(smtp_server))
    assert result["recipients_sent"] == 3 and result["recipients_skipped"] == 165
    out = view(s, monkeypatch, capsys)
    assert "sent 168, superseded 3 (171 deliveries" in out
    assert "gets it at the next send" not in out


SEND_AND_HANG = """
import smtplib, sys
from pathlib import Path
from supervision import pipeline
from supervision.delivery import SmtpTransport
from supervision.months import Month
from supervision.settings import RunSettings
inputs, output, url, outbox, port = sys.argv[1:]
s = RunSettings(Month.parse("2020-06"), Path(inputs), Path(output), url, Path(outbox), True)
pipeline.send(s, SmtpTransport(lambda: smtplib.SMTP("127.0.0.1", int(port), timeout=60),
                               "renovation-supervision@example.gov.cn"))
"""


def test_a_row_left_sending_by_a_killed_send_shows_why_and_is_settled(s, smtp_server, monkeypatch,
                                                                     capsys):
    smtp_server.delay = 30            # the server sits on the first message: the send is killed
    # a send outside Airflow: no task context (AIRFLOW_CTX_*) that an in-process dag.test() of
    # an earlier test may have left in this process's environment (tests/conftest.py)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CTX_")}
    env["PYTHONPATH"] = f"{ROOT / 'plugins'}:{ROOT}"
    proc = subprocess.Popen([sys.executable, "-c", SEND_AND_HANG, str(s.inputs_dir), str(s.output_dir),
                             s.warehouse_url, str(s.outbox_dir), str(smtp_server.port)], env=env)
    try:
        end = time.monotonic() + 60
        while smtp_server.data_calls < 1:
            assert proc.poll() is None and time.monotonic() < end
            time.sleep(0.05)
        out = view(s, monkeypatch, capsys)          # while it runs: the lock is held
        assert f"pid {proc.pid}" in out.splitlines()[1] and "being sent now" in out
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = view(s, monkeypatch, capsys, "--open")
    assert "sending 4" in out and "send lock: free" in out
    assert f"left by {socket.gethostname()} pid {proc.pid}, which ended between claiming it and " \
           "recording the server's answer (killed, worker lost)" in out
    msg_id = next(l for l in out.splitlines() if "Message-ID" in l).split("Message-ID ")[1]
    assert out.count("  sending    ") == 4

    # a new send does not resend it; the operator looks the Message-ID up and settles it
    smtp_server.delay = 0
    with pytest.raises(DeliveryIncomplete, match="unknown outcome"):
        pipeline.send(s, smtp_transport(smtp_server))
    out = view(s, monkeypatch, capsys, "--settle", "failed", "--message-id", msg_id)
    assert "settled 4 unresolved deliveries of 2020-06 as failed" in out
    assert pipeline.send(s, smtp_transport(smtp_server))["recipients_sent"] == 4
    assert Counter(r["status"] for r in delivery.ledger_rows(warehouse.connect(s.warehouse_url), MONTH)) \
        == Counter({"sent": 168})
