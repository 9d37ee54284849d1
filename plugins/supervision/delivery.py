"""Delivery of a month's documents to the cities, at most once per (month, document, recipient).

Recipients come from the landing area's ``recipients.csv`` (市州,单位,类别,邮箱). Every recipient
is tracked in the warehouse's ``delivery_ledger``, whose primary key is (report_month, document,
recipient). A row moves through these states:

``sending``   claimed: inserted (or taken over from ``failed``) in its own transaction *before*
              the message goes out. The primary key makes a claim exclusive, so two attempts
              can never both send to one recipient.
``sent``      the mail server accepted the message for this recipient (or, in the embedded
              default, the .eml file was written).
``failed``    the server did not take it (connection refused, 4xx/5xx reply, recipient
              refused): safe to send again, and the next attempt does.
``unknown``   the connection broke while the server was answering the message itself (or the
              process died between claim and answer, leaving ``sending``): the server may have
              taken it. Never resent automatically (at most once, SPEC §6); an operator checks
              the mail server's log and settles it (``python -m supervision.cli delivery``).

So a retry, a rerun, a cleared task or a backfill with ``send`` sends only what has not gone,
and a failure in the middle of a batch resends only what did not go.

The SMTP conversation (:class:`SmtpTransport`) is plain ``smtplib`` driven step by step, so it
knows whether a failure happened before the message was handed over; the Airflow task gives it
a client connected through the Airflow SMTP connection. The embedded default writes each
message as an .eml file to a local outbox instead (:class:`OutboxTransport`).
"""
from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable, Protocol

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from .errors import InputFileError, SupervisionError

log = logging.getLogger(__name__)

MAIN, CC = "主送", "抄送"
RECIPIENT_HEADERS = {"市州": "city", "单位": "organisation", "类别": "role", "邮箱": "email"}

SENDING, SENT, FAILED, UNKNOWN = "sending", "sent", "failed", "unknown"
#: 7-bit safe bodies (base64 / quoted-printable): any mail server takes them without 8BITMIME
MAIL_POLICY = email_policy.default.clone(cte_type="7bit")


# --------------------------------------------------------------------------- errors

class DeliveryDataError(SupervisionError):
    """What to send is wrong (recipients, attachments): retrying cannot help."""


class NotDelivered(SupervisionError):
    """The transport is sure the server did not take the message."""

    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class DeliveryIncomplete(SupervisionError):
    """Some recipients were not reached (refused) or their outcome is unknown."""

    def __init__(self, month: str, failed: list[tuple[str, str, str]],
                 unresolved: list[tuple[str, str, str]], retryable: bool):
        self.month, self.failed, self.unresolved, self.retryable = month, failed, unresolved, retryable
        parts = []
        if failed:
            parts.append(f"{len(failed)} recipient(s) not reached: " + "; ".join(
                f"{d} -> {r} ({e})" for d, r, e in failed[:10]))
        if unresolved:
            parts.append(f"{len(unresolved)} recipient(s) with an unknown outcome, never resent "
                         "automatically: " + "; ".join(f"{d} -> {r} ({s})" for d, r, s in unresolved[:10])
                         + f". Check the mail server's log, then `python -m supervision.cli delivery "
                           f"{month} --settle sent|failed`")
        super().__init__(f"delivery of {month} incomplete: " + ". ".join(parts))


# --------------------------------------------------------------------------- recipients

@dataclass(frozen=True)
class Recipient:
    city: str
    organisation: str
    role: str          # 主送 | 抄送
    email: str


#: what a 单位 (the display name of an address) may not contain: it could end the name and
#: start another address in the To:/Cc: header ("长沙市住建局 <attacker@evil.example>,")
_NAME_FORBIDDEN = re.compile(r'[<>,;"\r\n\x00-\x1f\x7f\u2028\u2029]')
#: an address we send to: a plain dot-atom local part and a domain of letters, digits and
#: hyphens (no quoted local parts, comments, routes or groups)
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                      r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


def read_recipients(path: Path, province=None) -> list[Recipient]:
    """``recipients.csv``: 市州,单位,类别(主送/抄送),邮箱 — one row per address.

    Read like the exports (UTF-8 with or without BOM, GBK/GB18030, UTF-16); a 市州 may be written
    as any alias of the province file (湘西州 is 湘西自治州) when ``province`` is given. A 单位
    holding ``< > , ; "`` or a line break, or an address that is not a plain ``local@domain``,
    is refused naming its row: they would put other addresses into the mail's header."""
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    from . import normalize as nz  # noqa: PLC0415
    from .readers import _decode_csv  # noqa: PLC0415

    data = Path(path).read_bytes()
    content, _ = _decode_csv(Path(path), data)
    try:
        grid = list(csv.reader(io.StringIO(content, newline="")))
    except csv.Error as exc:
        raise InputFileError(path, f"is not a well-formed csv file ({exc})") from exc
    if not grid or not any(c.strip() for c in grid[0]):
        raise InputFileError(path, "the file is empty")
    header = [nz.key(h) for h in grid[0]]
    missing = [h for h in RECIPIENT_HEADERS if h not in header]
    if missing:
        raise InputFileError(path, f"required column missing: {', '.join(missing)}")
    cols = [header.index(h) for h in RECIPIENT_HEADERS]
    out, problems, seen = [], [], set()
    for i, cells in enumerate(grid[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        raw = [cells[c] if c < len(cells) else "" for c in cols]
        org_raw = raw[1]
        city, org, role, email = (nz.text(v) or "" for v in raw)
        if province is not None:
            city = province.canonical_city(nz.key(city)) or city
        email = email.strip().lower()
        if _NAME_FORBIDDEN.search(org_raw) or _NAME_FORBIDDEN.search(org):  # ＜ is < after NFKC
            problems.append(f"row {i}: 单位 {org_raw!r} contains one of < > , ; \" or a line break "
                            "(it would add addresses to the mail header); write the name alone")
        elif not org:
            problems.append(f"row {i}: 单位 is empty")
        elif role not in (MAIN, CC):
            problems.append(f"row {i}: 类别 must be 主送 or 抄送, got {role!r}")
        elif not _ADDRESS.fullmatch(email):
            problems.append(f"row {i}: {email!r} is not an e-mail address")
        elif (city, email) in seen:
            problems.append(f"row {i}: {email} listed twice for {city}")
        else:
            seen.add((city, email))
            out.append(Recipient(city, org, role, email))
    if problems:
        raise InputFileError(path, "; ".join(problems))
    return out


def check_recipients(path: Path, recipients: list[Recipient], cities: list[str],
                     known: list[str] | None = None) -> None:
    """Every city of ``cities`` (the year's target cities) has at least one 主送 and one 抄送
    address; no city outside ``known`` (the province's cities; default ``cities``) is listed."""
    problems = []
    listed = {r.city for r in recipients}
    unknown = sorted(listed - set(known if known is not None else cities))
    if unknown:
        problems.append(f"unknown 市州 {', '.join(unknown)} (expected one of "
                        f"{', '.join(known if known is not None else cities)})")
    for city in cities:
        roles = {r.role for r in recipients if r.city == city}
        if MAIN not in roles:
            problems.append(f"{city} has no 主送 address")
        if CC not in roles:
            problems.append(f"{city} has no 抄送 address (人民政府)")
    if problems:
        raise InputFileError(path, "; ".join(problems))


def mail_address(r: Recipient) -> str:
    """``单位 <address>`` for a header, built by the email package from the validated name and
    address (the name quoted or encoded as it needs; never parsed back out of text)."""
    from email.headerregistry import Address  # noqa: PLC0415

    if _NAME_FORBIDDEN.search(r.organisation) or not _ADDRESS.fullmatch(r.email):
        raise DeliveryDataError(f"recipient {r.organisation!r} <{r.email}> is not a valid address")
    local, domain = r.email.split("@")
    return str(Address(display_name=r.organisation, username=local, domain=domain))


# --------------------------------------------------------------------------- messages

@dataclass
class Outgoing:
    """One message: a document for one city, to its main recipients with 抄送 to the others."""

    document: str                       # ledger key, e.g. "monthly_bulletin", "notice:changsha"
    city: str
    city_code: str
    subject: str
    body: str
    to: list[Recipient]
    cc: list[Recipient]
    attachments: list[Path] = field(default_factory=list)

    @property
    def recipients(self) -> list[Recipient]:
        return self.to + self.cc

    @property
    def slug(self) -> str:
        """ASCII name of this message: ``monthly_bulletin_changsha``, ``notice_changsha``."""
        return f"{self.document.split(':')[0]}_{self.city_code}"


def check_attachments(messages: list[Outgoing]) -> None:
    missing = sorted({str(p) for m in messages for p in m.attachments if not Path(p).is_file()})
    if missing:
        raise DeliveryDataError(f"attachments missing (rerun the month's documents stage): "
                                f"{', '.join(missing)}")


def message_id(month: str, msg: Outgoing, sender: str) -> str:
    """The same Message-ID for every attempt of one message, so a mail client that sees a
    message twice (an operator settled an unknown outcome as 'resend') shows it once."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "localhost"
    digest = hashlib.sha256(f"{month}|{msg.document}|{msg.city}".encode()).hexdigest()[:12]
    return f"<{month}.{msg.slug}.{digest}@{domain}>"


def build_message(msg: Outgoing, sender: str, to: list[Recipient], cc: list[Recipient],
                  now: datetime, msg_id: str) -> EmailMessage:
    m = EmailMessage(policy=MAIL_POLICY)
    m["From"] = sender
    m["To"] = ", ".join(mail_address(r) for r in to) if to else "undisclosed-recipients:;"
    if cc:
        m["Cc"] = ", ".join(mail_address(r) for r in cc)
    m["Subject"] = msg.subject
    m["Date"] = format_datetime(now)
    m["Message-ID"] = msg_id
    m["X-Supervision-Document"] = msg.document
    m["X-Supervision-Slug"] = msg.slug
    m.set_content(msg.body)
    for path in msg.attachments:
        ctype, _ = mimetypes.guess_type(path.name)
        maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
        m.add_attachment(Path(path).read_bytes(), maintype=maintype, subtype=subtype,
                         filename=path.name)
    return m


# --------------------------------------------------------------------------- transports

@dataclass(frozen=True)
class Refusal:
    code: int | None
    reason: str

    @property
    def temporary(self) -> bool:
        return self.code is not None and 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.reason}" if self.code else self.reason


class Transport(Protocol):
    channel: str

    def send(self, message: EmailMessage, recipients: list[str]) -> dict[str, Refusal]:
        """Hand the message over for ``recipients``; return the refused ones.

        Raise :class:`NotDelivered` when sure that nobody received it; any other exception
        means the outcome is unknown."""

    def close(self) -> None:
        """Release the connection, if any."""


class OutboxTransport:
    """The embedded default: each message is written as an .eml file (atomically)."""

    channel = "outbox"

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def send(self, message: EmailMessage, recipients: list[str]) -> dict[str, Refusal]:
        self.folder.mkdir(parents=True, exist_ok=True)
        slug = message["X-Supervision-Slug"]
        path, n = self.folder / f"{slug}.eml", 1
        while path.exists():  # a later attempt reaching the remaining recipients of a message
            n += 1
            path = self.folder / f"{slug}.{n}.eml"
        tmp = path.with_suffix(".eml.tmp")
        tmp.write_bytes(bytes(message))
        os.replace(tmp, path)
        return {}

    def close(self) -> None:
        pass


def _text(resp: Any) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


class SmtpTransport:
    """SMTP, one step at a time (MAIL, RCPT, DATA) on a client from ``connect``.

    ``connect`` returns a connected, authenticated ``smtplib.SMTP`` (the Airflow task builds it
    from the SMTP connection through the provider's hook). Failures before DATA, and replies
    refusing the message, raise :class:`NotDelivered`; a connection lost while the server answers
    DATA is re-raised as it is: the outcome is unknown."""

    channel = "smtp"

    def __init__(self, connect: Callable[[], smtplib.SMTP], envelope_from: str):
        self._connect = connect
        self.envelope_from = envelope_from
        self._client: smtplib.SMTP | None = None

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None

    def _reset(self) -> None:
        try:
            self._client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def send(self, message: EmailMessage, recipients: list[str]) -> dict[str, Refusal]:
        if self._client is None:
            try:
                self._client = self._connect()
            except Exception as exc:  # noqa: BLE001 - whatever stopped the connection, nothing went
                raise NotDelivered(f"cannot connect to the mail server: {exc!r}", retryable=True) from exc
        client = self._client
        try:
            client.ehlo_or_helo_if_needed()
            code, resp = client.mail(self.envelope_from)
            if code != 250:
                self._reset()
                raise NotDelivered(f"sender refused: {code} {_text(resp)}", retryable=400 <= code < 500)
            refused: dict[str, Refusal] = {}
            for address in recipients:
                code, resp = client.rcpt(address)
                if code not in (250, 251):
                    refused[address] = Refusal(code, _text(resp))
            if len(refused) == len(recipients):
                self._reset()
                return refused
        except NotDelivered:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            # nothing was handed over yet: the connection failed, or the server hung up
            self._drop()
            raise NotDelivered(f"mail server unavailable: {exc!r}", retryable=True) from exc
        try:
            code, resp = client.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
        except smtplib.SMTPDataError as exc:  # DATA itself refused: the message never went
            code, resp = exc.smtp_code, exc.smtp_error
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop()  # the server may have taken it: the caller records an unknown outcome
            raise
        if code != 250:
            # the server answered and did not take the message
            self._reset()
            raise NotDelivered(f"message refused: {code} {_text(resp)}", retryable=400 <= code < 500)
        return refused

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                self._drop()


# --------------------------------------------------------------------------- ledger

def _now_utc() -> datetime:
    return datetime.now(timezone.utc)


def ledger_rows(engine: Engine, month: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(text("SELECT * FROM delivery_ledger WHERE report_month = :m"), {"m": month})
        return [dict(r._mapping) for r in result]


def ledger_states(engine: Engine, month: str) -> dict[tuple[str, str], str]:
    return {(r["document"], r["recipient"]): r["status"] for r in ledger_rows(engine, month)}


def already_sent(engine: Engine, month: str) -> set[tuple[str, str]]:
    return {k for k, v in ledger_states(engine, month).items() if v == SENT}


def claim(engine: Engine, month: str, document: str, recipient: str, channel: str,
          message_id: str, at: str) -> bool:
    """Take (month, document, recipient) for one attempt; False when it is not free (sent,
    unknown, or claimed by another attempt). Committed before anything is sent."""
    params = {"m": month, "d": document, "r": recipient, "c": channel, "id": message_id, "at": at}
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO delivery_ledger (report_month, document, recipient, status, channel, "
                "message_id, attempted_at, sent_at, error) VALUES (:m, :d, :r, 'sending', :c, :id, "
                ":at, NULL, NULL)"), params)
        return True
    except IntegrityError:
        pass
    with engine.begin() as conn:
        taken = conn.execute(text(
            "UPDATE delivery_ledger SET status = 'sending', channel = :c, message_id = :id, "
            "attempted_at = :at, error = NULL WHERE report_month = :m AND document = :d "
            "AND recipient = :r AND status = 'failed'"), params).rowcount
    return taken == 1


def settle(engine: Engine, month: str, document: str, recipient: str, status: str,
           at: str | None = None, error: str | None = None) -> None:
    """Record the outcome of a claimed attempt."""
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE delivery_ledger SET status = :s, sent_at = :sent, error = :e "
            "WHERE report_month = :m AND document = :d AND recipient = :r"),
            {"m": month, "d": document, "r": recipient, "s": status,
             "sent": at if status == SENT else None, "e": error})


def settle_unresolved(engine: Engine, month: str, status: str, document: str | None = None,
                      recipient: str | None = None, note: str = "settled by an operator") -> int:
    """An operator's decision on ``sending``/``unknown`` rows: ``sent`` (the server log shows it
    arrived) or ``failed`` (it did not; the next run sends it)."""
    if status not in (SENT, FAILED):
        raise ValueError("settle as 'sent' or 'failed'")
    sql = ("UPDATE delivery_ledger SET status = :s, error = :e, sent_at = CASE WHEN :s = 'sent' "
           "THEN attempted_at ELSE NULL END WHERE report_month = :m AND status IN ('sending', 'unknown')")
    params: dict[str, Any] = {"m": month, "s": status, "e": note}
    if document:
        sql += " AND document = :d"
        params["d"] = document
    if recipient:
        sql += " AND recipient = :r"
        params["r"] = recipient
    with engine.begin() as conn:
        return conn.execute(text(sql), params).rowcount


# --------------------------------------------------------------------------- deliver

@dataclass
class DeliveryReport:
    channel: str
    messages: int = 0
    recipients_sent: int = 0
    recipients_skipped: int = 0
    recipients_failed: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)       # (document, recipient, why)
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)   # (document, recipient, status)
    temporary: bool = True   # every failure was a "try later" (4xx) or a lost connection

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "messages": self.messages,
                "recipients_sent": self.recipients_sent,
                "recipients_skipped": self.recipients_skipped,
                "recipients_failed": self.recipients_failed,
                "recipients_unresolved": len(self.unresolved)}

    def incomplete(self, month: str) -> DeliveryIncomplete | None:
        """The error to raise when someone was not reached (None when everyone was)."""
        if not self.failed and not self.unresolved:
            return None
        return DeliveryIncomplete(month, self.failed, self.unresolved,
                                  retryable=self.temporary and not self.unresolved)


def deliver(engine: Engine, month: str, messages: list[Outgoing], transport: Transport,
            sender: str, clock: Callable[[], datetime] = _now_utc) -> DeliveryReport:
    """Send what has not been sent; the ledger records every recipient's outcome.

    Raises :class:`NotDelivered` (retryable) when the server cannot be reached or answers
    "try later": what went before is recorded, the rest goes on the next attempt. Recipients the
    server refused are recorded as failed and reported, with the unresolved ones, in the
    returned report (see :meth:`DeliveryReport.incomplete`)."""
    check_attachments(messages)
    states = ledger_states(engine, month)
    report = DeliveryReport(transport.channel)
    try:
        for msg in messages:
            msg_id = message_id(month, msg, sender)
            now = clock()
            at = now.isoformat(timespec="seconds")
            claimed = set()
            for r in msg.recipients:
                state = states.get((msg.document, r.email))
                if state == SENT:
                    report.recipients_skipped += 1
                elif state in (SENDING, UNKNOWN):
                    report.unresolved.append((msg.document, r.email, state))
                elif r.email not in claimed and claim(engine, month, msg.document, r.email,
                                                      transport.channel, msg_id, at):
                    claimed.add(r.email)
                else:  # taken by a concurrent attempt between reading and claiming
                    report.unresolved.append((msg.document, r.email, "claimed elsewhere"))
            if not claimed:
                continue
            to = [r for r in msg.to if r.email in claimed]
            cc = [r for r in msg.cc if r.email in claimed]
            addresses = [r.email for r in to + cc]
            message = build_message(msg, sender, to, cc, now, msg_id)
            def outcome(address: str, status: str, **kw: Any) -> None:
                settle(engine, month, msg.document, address, status, **kw)
                states[(msg.document, address)] = status

            try:
                refused = transport.send(message, addresses)
            except NotDelivered as exc:
                for a in addresses:
                    outcome(a, FAILED, error=str(exc))
                report.recipients_failed += len(addresses)
                report.failed.extend((msg.document, a, str(exc)) for a in addresses)
                if exc.retryable:
                    log.warning("delivery %s: %s; %s", month, exc, report.as_dict())
                    raise
                report.temporary = False
                continue
            except BaseException as exc:
                for a in addresses:
                    outcome(a, UNKNOWN, error=f"outcome unknown: {exc!r}")
                raise
            report.messages += 1
            for a in addresses:
                if a in refused:
                    outcome(a, FAILED, error=str(refused[a]))
                    report.recipients_failed += 1
                    report.failed.append((msg.document, a, str(refused[a])))
                    report.temporary = report.temporary and refused[a].temporary
                else:
                    outcome(a, SENT, at=at)
                    report.recipients_sent += 1
    finally:
        transport.close()
    log.info("delivery %s: %s", month, report.as_dict())
    return report
