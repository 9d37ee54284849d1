"""Mail delivery against a misbehaving server (issue 14, items 9–11), on a real SMTP server
(aiosmtpd, ``tests/smtp_server.py``) through the send task's own code path:

* a throttling server (every 5th or 7th message "try later"): the month is fully delivered
  within the send task's retries, and a try that cannot finish names what is left;
* a hang-up after DATA before the reply: the clear unknown-outcome failure on that very try;
* two sends of one month at once (threads; SQLite and PostgreSQL): serialised by the month's
  send lock — the second waits, or exits with "another send of 2020-06 is in progress" —
  never a duplicate, never a false unknown outcome, one transaction per message with its
  full header.
"""
from __future__ import annotations

import dataclasses
import json
import os
import smtplib
import socket
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import text

from supervision import delivery, pipeline, warehouse
from supervision.delivery import DeliveryIncomplete, SendBudget, SmtpTransport
from supervision.delivery_lock import SendInProgress, current_holder, send_lock
from supervision_airflow import sending

MONTH = "2020-06"
SENDER = "renovation-supervision@example.gov.cn"
CONN = "AIRFLOW_CONN_SUPERVISION_SMTP"
ALL = 168   # 14 cities x (月度通报 + 年中通报 + 督办通知) x 4 addresses, in 42 messages


def connection(port: int) -> str:
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                       "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 5,
                                 "retry_limit": 1, "from_email": SENDER}})


@pytest.fixture()
def s(rendered_june, tmp_path):
    return dataclasses.replace(rendered_june, warehouse_url=f"sqlite:///{tmp_path / 'ledger.db'}",
                               outbox_dir=tmp_path / "outbox", delivery="smtp")


@pytest.fixture(scope="module")
def send_task_tries() -> int:
    """How many tries Airflow gives the DAG's send task (its ``retries`` + 1)."""
    from pathlib import Path

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    return bag.dags["renovation_supervision_monthly"].get_task("send").retries + 1


def statuses(s) -> Counter:
    return Counter(r["status"] for r in delivery.ledger_rows(warehouse.connect(s.warehouse_url), s.month))


def smtp_transport(server) -> SmtpTransport:
    return SmtpTransport(lambda: smtplib.SMTP("127.0.0.1", server.port, timeout=10), SENDER)


def assert_each_message_once_with_its_full_header(server, transactions: int = 42) -> None:
    """Every recipient has each document once; every transaction carries its message's full
    header (To + Cc of all its recipients) and the transactions of one message reach exactly
    those recipients, each once (a recipient refused for now gets the same message later)."""
    assert set(server.deliveries().values()) == {1} and len(server.deliveries()) == ALL
    assert len(server.received) == transactions
    by_id: dict[str, list] = {}
    for rcpts, m in server.received:
        by_id.setdefault(m["Message-ID"], []).append((rcpts, m))
    assert len(by_id) == 42
    for msg_id, sent in by_id.items():
        headers = {tuple(a.addr_spec for h in ("To", "Cc") for a in m[h].addresses) for _, m in sent}
        assert len(headers) == 1, msg_id
        reached = [r for rcpts, _ in sent for r in rcpts]
        assert sorted(reached) == sorted(headers.pop()), msg_id


def run_send_task(s, tries: int) -> list[BaseException | dict]:
    """The send task as Airflow runs it: ``sending.send`` once per try, a retryable failure
    leading to the next try (the retry delay is Airflow's and not waited for here), a task
    failure (AirflowFailException) or success ending it."""
    outcomes: list[BaseException | dict] = []
    for _ in range(tries):
        try:
            outcomes.append(sending.send(s))
            return outcomes
        except AirflowFailException as exc:
            outcomes.append(exc)
            return outcomes
        except Exception as exc:  # noqa: BLE001 - Airflow retries any other failure
            assert getattr(exc, "retryable", False), f"not retryable: {exc!r}"
            outcomes.append(exc)
    return outcomes


# --------------------------------------------------------------------------- 9. throttling

THROTTLING = {
    "every 5th DATA 421 + hang-up": dict(throttle_every=5, throttle_at="DATA",
                                         throttle_reply="421 4.7.0 Too many messages, try again later"),
    "every 7th DATA 421 + hang-up": dict(throttle_every=7, throttle_at="DATA",
                                         throttle_reply="421 4.7.0 Too many messages, try again later"),
    "every 5th MAIL 451": dict(throttle_every=5, throttle_at="MAIL",
                               throttle_reply="451 4.7.1 Rate limited, try again later"),
    "every 7th RCPT 451": dict(throttle_every=7, throttle_at="RCPT",
                               throttle_reply="451 4.7.1 Greylisted, try again later"),
}


@pytest.mark.parametrize("case", list(THROTTLING))
@pytest.mark.parametrize("rounds", [None, "1"], ids=["default budget", "one pass per try"])
def test_a_throttling_server_gets_the_month_delivered_within_the_send_tasks_retries(
        s, smtp_server, monkeypatch, send_task_tries, case, rounds):
    monkeypatch.setenv(CONN, connection(smtp_server.port))
    if rounds:
        monkeypatch.setenv("SUPERVISION_SEND_ROUNDS", rounds)
    for name, value in THROTTLING[case].items():
        setattr(smtp_server, name, value)

    outcomes = run_send_task(s, send_task_tries)

    assert isinstance(outcomes[-1], dict), outcomes          # the last try succeeded
    assert len(outcomes) <= send_task_tries
    assert smtp_server.throttled >= 6                        # the server did throttle
    assert statuses(s) == Counter({"sent": ALL})
    # a recipient refused alone at RCPT gets the same message later, alone (one extra message)
    extra = smtp_server.throttled if THROTTLING[case]["throttle_at"] == "RCPT" else 0
    assert_each_message_once_with_its_full_header(smtp_server, 42 + extra)
    for failed_try in outcomes[:-1]:                         # each named what was left
        assert isinstance(failed_try, DeliveryIncomplete) and failed_try.retryable
        assert "deliveries still to send: " in str(failed_try)
    if THROTTLING[case]["throttle_reply"].startswith("421"):
        assert smtp_server.connections > smtp_server.throttled   # reconnected after each hang-up
    if rounds is None:
        assert len(outcomes) == 1                            # the default budget needs one try


def test_a_try_that_spends_its_budget_names_what_is_left_and_the_retry_finishes(s, smtp_server,
                                                                             monkeypatch):
    monkeypatch.setenv(CONN, connection(smtp_server.port))
    monkeypatch.setenv("SUPERVISION_SEND_ROUNDS", "1")
    smtp_server.throttle_every, smtp_server.throttle_at = 5, "DATA"
    with pytest.raises(DeliveryIncomplete) as err:
        sending.send(s)
    # messages 5, 10, ..., 40 (3 a city: 长沙市 1-3, 株洲市 4-6, ...) were refused, the rest went
    assert err.value.retryable and not isinstance(err.value, AirflowFailException)
    assert str(err.value).startswith(
        "delivery of 2020-06 incomplete: 32 of 168 deliveries still to send: 株洲市, 衡阳市, 邵阳市, "
        "常德市, 益阳市, 郴州市, 怀化市, 湘西自治州. ")
    assert statuses(s) == Counter({"sent": 136, "failed": 32})
    smtp_server.throttle_every = None
    assert sending.send(s)["recipients_sent"] == 32
    assert_each_message_once_with_its_full_header(smtp_server)


def test_a_server_refusing_everything_stops_the_try_early(s, smtp_server, monkeypatch):
    smtp_server.throttle_every, smtp_server.throttle_at = 1, "MAIL"
    smtp_server.throttle_reply = "451 4.3.2 System not accepting network messages"
    with pytest.raises(DeliveryIncomplete) as err:
        pipeline.send(s, smtp_transport(smtp_server))
    assert err.value.retryable and "3 temporary refusals in a row" in str(err.value)
    assert "168 of 168 deliveries still to send: 长沙市, 株洲市" in str(err.value)
    assert smtp_server.throttled == 3 and statuses(s) == Counter({"failed": 12})


def test_the_budget_is_read_from_the_environment():
    assert SendBudget.from_env({}) == SendBudget()
    assert SendBudget.from_env({"SUPERVISION_SEND_ROUNDS": "5", "SUPERVISION_SEND_PAUSE_SECONDS": "1.5",
                                "SUPERVISION_SEND_TEMPORARY_FAILURES": "10"}) == \
        SendBudget(rounds=5, pause_seconds=1.5, temporary_failures=10)
    with pytest.raises(ValueError, match="SUPERVISION_SEND_ROUNDS must be a number"):
        SendBudget.from_env({"SUPERVISION_SEND_ROUNDS": "three"})
    with pytest.raises(ValueError, match="at least 1"):
        SendBudget.from_env({"SUPERVISION_SEND_ROUNDS": "0"})


def test_passes_pause_and_back_off(s, smtp_server, monkeypatch):
    pauses: list[float] = []
    smtp_server.refuse["zf@yueyang.example.gov.cn"] = "450 4.2.1 mailbox busy"
    from supervision.config import programme_for_month
    from supervision.landing import recipients_file

    recipients = delivery.read_recipients(recipients_file(s.inputs_dir))
    messages = pipeline.outgoing_messages(s, programme_for_month(s.report_month), recipients)
    report = delivery.deliver(warehouse.connect(s.warehouse_url), MONTH, messages,
                              smtp_transport(smtp_server), SENDER,
                              budget=SendBudget(rounds=3, pause_seconds=7, consecutive_failures=99),
                              sleep=pauses.append)
    assert pauses == [7, 14] and report.rounds == 3
    assert [(d, r) for d, r, _ in report.pending] == [
        (d, "zf@yueyang.example.gov.cn") for d in ("monthly_bulletin", "mid_year_bulletin", "notice:yueyang")]
    assert report.incomplete(MONTH).retryable


# --------------------------------------------------------------------------- 10. unknown outcome

def test_a_hang_up_after_data_fails_that_very_try_with_the_unknown_outcome(s, smtp_server, monkeypatch):
    monkeypatch.setenv(CONN, connection(smtp_server.port))
    smtp_server.hang_up_at = 4      # 株洲市's 月度通报: taken, then the server hangs up
    with pytest.raises(AirflowFailException) as err:   # not retried: a person settles it
        sending.send(s)
    message = str(err.value)
    taken = smtp_server.received[3][1]
    assert f"monthly_bulletin to 株洲市 (Message-ID {taken['Message-ID']}): zjj@zhuzhou.example.gov.cn, " \
           "fgw@zhuzhou.example.gov.cn, czj@zhuzhou.example.gov.cn, zf@zhuzhou.example.gov.cn" in message
    assert f"--settle sent|failed --message-id '{taken['Message-ID']}'" in message
    assert "SMTPServerDisconnected" not in message.split(":")[0]
    # the rest of the month went on the same try; the unknown message was not resent
    assert statuses(s) == Counter({"sent": 164, "unknown": 4})
    assert set(smtp_server.deliveries().values()) == {1} and len(smtp_server.received) == 42


def test_repeated_unknown_outcomes_stop_the_try(s, smtp_server):
    """A server that hangs up after every DATA: the second unknown outcome ends the try."""
    calls = {"n": 0}
    original = smtp_server.handle_DATA

    async def hang_up_always(server, session, envelope):
        calls["n"] += 1
        smtp_server.hang_up_at = smtp_server.data_calls + 1
        return await original(server, session, envelope)

    smtp_server.handle_DATA = hang_up_always
    with pytest.raises(DeliveryIncomplete) as err:
        pipeline.send(s, smtp_transport(smtp_server))
    assert "2 messages with an unknown outcome" in str(err.value) and not err.value.retryable
    assert calls["n"] == 2 and statuses(s) == Counter({"unknown": 8})


# --------------------------------------------------------------------------- 11. concurrent sends

def _thread(target, results: dict, key: str) -> threading.Thread:
    def run():
        try:
            results[key] = target()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            results[key] = exc
    t = threading.Thread(target=run, name=key)
    t.start()
    return t


def _wait_for(condition, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def _database(request, tmp_path, name: str) -> str:
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_server").create_database(f"send_lock_{os.getpid()}")


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("database", DATABASES)
def test_two_concurrent_sends_of_a_month_the_second_waits_and_sends_nothing_twice(
        s, smtp_server, monkeypatch, request, tmp_path, database):
    s = dataclasses.replace(s, warehouse_url=_database(request, tmp_path, database))
    monkeypatch.setenv("SUPERVISION_SEND_LOCK_WAIT_SECONDS", "60")
    smtp_server.delay = 0.02                 # a slow server: the sends overlap
    results: dict = {}
    first = _thread(lambda: pipeline.send(s, smtp_transport(smtp_server)), results, "first")
    _wait_for(lambda: smtp_server.data_calls >= 1)
    engine = warehouse.connect(s.warehouse_url)
    assert "pid" in (current_holder(engine, MONTH) or "")    # the first holds the month
    second = _thread(lambda: pipeline.send(s, smtp_transport(smtp_server)), results, "second")
    first.join(60)
    second.join(60)
    assert results["first"]["recipients_sent"] == ALL, results["first"]
    assert results["second"]["recipients_sent"] == 0, results["second"]     # no false alarm
    assert results["second"]["recipients_skipped"] == ALL
    assert statuses(s) == Counter({"sent": ALL})
    assert_each_message_once_with_its_full_header(smtp_server)
    assert current_holder(engine, MONTH) is None
    engine.dispose()


@pytest.mark.parametrize("database", DATABASES)
def test_a_second_send_that_cannot_wait_exits_cleanly(s, smtp_server, monkeypatch, request,
                                                      tmp_path, database):
    s = dataclasses.replace(s, warehouse_url=_database(request, tmp_path, database))
    monkeypatch.setenv(CONN, connection(smtp_server.port))
    monkeypatch.setenv("SUPERVISION_SEND_LOCK_WAIT_SECONDS", "0.5")
    smtp_server.delay = 0.05
    results: dict = {}
    first = _thread(lambda: sending.send(s), results, "first")
    _wait_for(lambda: smtp_server.data_calls >= 1)
    with pytest.raises(SendInProgress, match="another send of 2020-06 is in progress") as err:
        sending.send(s)                              # retryable for Airflow, not a task failure
    assert err.value.retryable and not isinstance(err.value, AirflowFailException)
    assert f"{socket.gethostname()} pid {os.getpid()}" in str(err.value)   # who holds it
    first.join(60)
    assert results["first"]["recipients_sent"] == ALL
    assert statuses(s) == Counter({"sent": ALL})
    assert_each_message_once_with_its_full_header(smtp_server)
    assert sending.send(s)["recipients_sent"] == 0   # the retry: nothing left


def test_a_lock_left_by_a_dead_process_or_an_expired_lease_is_taken_over(tmp_path):
    engine = warehouse.connect(f"sqlite:///{tmp_path / 'locks.db'}")
    dead = 2 ** 22 + 12345                           # beyond pid_max: not running
    now = datetime.now(timezone.utc)

    def leave(host: str, pid: int, renewed: datetime) -> None:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM delivery_locks"))
            conn.execute(text(
                "INSERT INTO delivery_locks VALUES (:m, :h, :host, :pid, 'old', :at, :at)"),
                {"m": MONTH, "h": f"{host} pid {pid}", "host": host, "pid": pid,
                 "at": renewed.isoformat()})

    leave(socket.gethostname(), dead, now)           # killed on this host
    with send_lock(engine, MONTH, wait=0) as lock:
        assert lock.renew()
    leave("other-worker", 1, now - timedelta(hours=1))   # another host, not renewed for an hour
    with send_lock(engine, MONTH, wait=0):
        pass
    leave("other-worker", 1, now)                    # another host, renewing: it is sending
    with pytest.raises(SendInProgress, match="other-worker pid 1"):
        with send_lock(engine, MONTH, wait=0.2):
            pass
