"""Delivery of a month's documents to the cities, at most once per (month, document, recipient).

Recipients come from the landing area's ``recipients.csv``. Every recipient a message reaches is
recorded in the ``delivery_ledger``; a rerun, a retry or a backfill skips who already has it. The
embedded default writes each message as an .eml file to a local outbox instead of sending it.
"""
from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Callable, Protocol

import pandas as pd
from sqlalchemy import Engine, text

from . import normalize as nz
from .errors import InputFileError

log = logging.getLogger(__name__)

MAIN, CC = "主送", "抄送"
RECIPIENT_HEADERS = {"市州": "city", "单位": "organisation", "类别": "role", "邮箱": "email"}


@dataclass(frozen=True)
class Recipient:
    city: str
    organisation: str
    role: str          # 主送 | 抄送
    email: str


@dataclass
class Outgoing:
    """One message: a document for one city, to its main recipients with 抄送 to the others."""

    document: str                       # ledger key, e.g. "monthly_bulletin", "notice:changsha"
    city: str
    subject: str
    body: str
    to: list[Recipient]
    cc: list[Recipient]
    attachments: list[Path] = field(default_factory=list)

    @property
    def recipients(self) -> list[Recipient]:
        return self.to + self.cc


def read_recipients(path: Path) -> list[Recipient]:
    """``recipients.csv``: 市州,单位,类别(主送/抄送),邮箱 — one row per address."""
    frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    missing = [h for h in RECIPIENT_HEADERS if h not in frame.columns]
    if missing:
        raise InputFileError(path, f"required column missing: {', '.join(missing)}")
    out, problems = [], []
    for i, row in enumerate(frame.to_dict("records"), start=2):
        r = Recipient(*(nz.text(row[h]) or "" for h in RECIPIENT_HEADERS))
        if r.role not in (MAIN, CC):
            problems.append(f"row {i}: 类别 must be 主送 or 抄送, got {r.role!r}")
        elif "@" not in r.email:
            problems.append(f"row {i}: {r.email!r} is not an e-mail address")
        else:
            out.append(r)
    if problems:
        raise InputFileError(path, "; ".join(problems))
    return out


def build_message(msg: Outgoing, sender: str, to: list[Recipient], cc: list[Recipient],
                  now: datetime) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = ", ".join(f"{r.organisation} <{r.email}>" for r in to)
    if cc:
        m["Cc"] = ", ".join(f"{r.organisation} <{r.email}>" for r in cc)
    m["Subject"] = msg.subject
    m["Date"] = format_datetime(now)
    m["Message-ID"] = make_msgid(domain=sender.split("@")[-1].strip(">"))
    m["X-Supervision-Document"] = msg.document
    m.set_content(msg.body)
    for path in msg.attachments:
        ctype, _ = mimetypes.guess_type(path.name)
        maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
        m.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return m


class Transport(Protocol):
    channel: str

    def send(self, message: EmailMessage, recipients: list[str]) -> dict[str, str]:
        """Send; return the refused recipients with the reason (empty when all accepted)."""


class OutboxTransport:
    """The embedded default: each message is written as an .eml file."""

    channel = "outbox"

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def send(self, message: EmailMessage, recipients: list[str]) -> dict[str, str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        doc = message["X-Supervision-Document"].replace(":", "_")
        n = len(list(self.folder.glob(f"{doc}*.eml")))
        path = self.folder / f"{doc}{'' if n == 0 else f'.{n}'}.eml"
        path.write_bytes(bytes(message))
        return {}


def already_sent(engine: Engine, month: str) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT document, recipient FROM delivery_ledger "
            "WHERE report_month = :m AND status = 'sent'"), {"m": month}).fetchall()
    return {(d, r) for d, r in rows}


def _record(engine: Engine, month: str, document: str, recipient: str, status: str,
            channel: str, message_id: str | None, at: str, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM delivery_ledger WHERE report_month = :m AND document = :d "
                          "AND recipient = :r AND status <> 'sent'"),
                     {"m": month, "d": document, "r": recipient})
        conn.execute(text(
            "INSERT INTO delivery_ledger (report_month, document, recipient, status, channel, "
            "message_id, attempted_at, sent_at, error) VALUES (:m, :d, :r, :s, :c, :id, :at, "
            ":sent, :e)"),
            {"m": month, "d": document, "r": recipient, "s": status, "c": channel,
             "id": message_id, "at": at, "sent": at if status == "sent" else None, "e": error})


def deliver(engine: Engine, month: str, messages: list[Outgoing], transport: Transport,
            sender: str, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
            ) -> dict[str, int]:
    """Send what has not been sent; record each recipient reached. Returns counts."""
    done = already_sent(engine, month)
    counts = {"messages": 0, "recipients_sent": 0, "recipients_skipped": 0, "recipients_failed": 0}
    for msg in messages:
        to = [r for r in msg.to if (msg.document, r.email) not in done]
        cc = [r for r in msg.cc if (msg.document, r.email) not in done]
        counts["recipients_skipped"] += len(msg.recipients) - len(to) - len(cc)
        if not to and not cc:
            continue
        now = clock()
        message = build_message(msg, sender, to, cc, now)
        addresses = [r.email for r in to + cc]
        refused = transport.send(message, addresses)
        counts["messages"] += 1
        for address in addresses:
            status = "failed" if address in refused else "sent"
            _record(engine, month, msg.document, address, status, transport.channel,
                    message["Message-ID"], now.isoformat(timespec="seconds"), refused.get(address))
            counts["recipients_sent" if status == "sent" else "recipients_failed"] += 1
    log.info("delivery %s: %s", month, counts)
    return counts
