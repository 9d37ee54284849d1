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

One send of a month at a time (:mod:`supervision.delivery_lock`). A temporary refusal does not
end a try: the other messages go on and the refused ones get further passes within a
:class:`SendBudget`; then the try fails retryably naming what is left ("N of M deliveries still
to send: <cities>"). An unknown outcome is reported on the try it happens (recipients,
Message-ID, the settle command). Every attempt of a message carries its full header (all its
recipients in To/Cc); the envelope names the recipients still to reach.

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
import time
from dataclasses import dataclass, field, fields
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

    def __init__(self, message: str, retryable: bool, unreachable: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.unreachable = unreachable   # no server answered at all: stop this try (see SendBudget)


class DeliveryIncomplete(SupervisionError):
    """Some recipients were not reached (refused, or not tried when the try's budget was spent)
    or their outcome is unknown.

    ``pending`` (document, recipient, city) is what is still to send of the ``total`` deliveries;
    ``where`` maps (document, recipient) to (city, Message-ID), to name unknown outcomes."""

    def __init__(self, month: str, failed: list[tuple[str, str, str]],
                 unresolved: list[tuple[str, str, str]], retryable: bool, *,
                 pending: list[tuple[str, str, str]] | None = None, total: int | None = None,
                 stopped: str | None = None,
                 where: dict[tuple[str, str], tuple[str, str]] | None = None):
        self.month, self.failed, self.unresolved, self.retryable = month, failed, unresolved, retryable
        self.pending, self.total, self.stopped = pending or [], total, stopped
        parts = []
        if self.pending:
            cities = list(dict.fromkeys(c for _, _, c in self.pending))
            parts.append(f"{len(self.pending)} of {total} deliveries still to send: {', '.join(cities)}")
        if stopped:
            parts.append(f"this try stopped early: {stopped}")
        if failed:
            parts.append(f"{len(failed)} recipient(s) not reached: " + "; ".join(
                f"{d} -> {r} ({e})" for d, r, e in failed[:10]) + ("; ..." if len(failed) > 10 else ""))
        if unresolved:
            parts.append(unknown_outcome_text(month, unresolved, where or {}))
        super().__init__(f"delivery of {month} incomplete: " + ". ".join(parts))


def unknown_outcome_text(month: str, unresolved: list[tuple[str, str, str]],
                         where: dict[tuple[str, str], tuple[str, str]]) -> str:
    """The unknown outcomes, per message (recipients, Message-ID), and how to settle them."""
    by_message: dict[tuple[str, str, str], list[str]] = {}
    for d, r, _status in unresolved:
        city, msg_id = where.get((d, r), ("", ""))
        by_message.setdefault((d, city, msg_id), []).append(r)
    listed = "; ".join(f"{d}{' to ' + c if c else ''}"
                       f"{' (Message-ID ' + i + ')' if i else ''}: {', '.join(rs)}"
                       for (d, c, i), rs in by_message.items())
    ids = [i for _, _, i in by_message if i]
    how = (f"python -m supervision.cli delivery {month} --settle sent|failed --message-id '{ids[0]}'"
           if len(ids) == 1 else f"python -m supervision.cli delivery {month} --settle sent|failed "
                                 "[--message-id ID | --document D --recipient R]")
    return (f"{len(unresolved)} recipient(s) with an unknown outcome (the server may have taken the "
            f"message), never resent automatically: {listed}. Look the Message-ID up in the mail "
            f"server's log, then `{how}` (runbook: settling an unknown outcome)")


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
        # the envelope, which a file does not have: who this copy is for (the header names
        # every recipient of the message, also when a later attempt reaches only the rest)
        message["X-Envelope-To"] = ", ".join(recipients)
        try:
            tmp.write_bytes(bytes(message))
        finally:
            del message["X-Envelope-To"]
        os.replace(tmp, path)
        return {}

    def close(self) -> None:
        pass


def _text(resp: Any) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


def _dot_stuffed(payload: bytes) -> bytes:
    """The DATA content as RFC 5321 §4.5.2 sends it: a leading "." doubled, ended by CRLF.CRLF."""
    body = re.sub(rb"(?m)^\.", b"..", payload)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


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

    def _reset(self, code: int | None = None) -> None:
        """End the refused transaction: RSET, or hang up too when the server said 421 (it is
        closing the connection, RFC 5321 §3.8); the next message connects again."""
        if code == 421:
            self._drop()
            return
        try:
            self._client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def send(self, message: EmailMessage, recipients: list[str]) -> dict[str, Refusal]:
        if self._client is None:
            try:
                self._client = self._connect()
            except Exception as exc:  # noqa: BLE001 - whatever stopped the connection, nothing went
                # refused, timed out, no such host: nobody answered (a 421 greeting is an answer)
                unreachable = isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)
                raise NotDelivered(f"cannot connect to the mail server: {exc!r}", retryable=True,
                                   unreachable=unreachable) from exc
        client = self._client
        try:
            client.ehlo_or_helo_if_needed()
            code, resp = client.mail(self.envelope_from)
            if code != 250:
                self._reset(code)
                raise NotDelivered(f"sender refused: {code} {_text(resp)}", retryable=400 <= code < 500)
            refused: dict[str, Refusal] = {}
            for address in recipients:
                code, resp = client.rcpt(address)
                if code == 421:   # the server is closing: nothing was handed over
                    self._reset(code)
                    raise NotDelivered(f"recipient {address} answered {code} {_text(resp)}",
                                       retryable=True)
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
        payload = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        try:
            # DATA and the content, as smtplib's data() does, in two steps: until the content's
            # final "." is handed over the server cannot have taken the message
            client.putcmd("data")
            code, resp = client.getreply()
            if code == 354:
                client.send(_dot_stuffed(payload))
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise NotDelivered(f"mail server unavailable before the message was handed over: {exc!r}",
                               retryable=True) from exc
        if code == 354:
            try:
                code, resp = client.getreply()
            except (smtplib.SMTPServerDisconnected, OSError):
                self._drop()  # the server may have taken it: the caller records an unknown outcome
                raise
        if code != 250:
            # the server answered and did not take the message
            self._reset(code)
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
          message_id: str, at: str, note: str | None = None) -> bool:
    """Take (month, document, recipient) for one attempt; False when it is not free (sent,
    unknown, or claimed by another attempt). Committed before anything is sent. ``note`` (who
    claims it) stays in ``error`` while the row is ``sending``: the reason shown for a row an
    attempt left ``sending``."""
    params = {"m": month, "d": document, "r": recipient, "c": channel, "id": message_id, "at": at,
              "e": note}
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO delivery_ledger (report_month, document, recipient, status, channel, "
                "message_id, attempted_at, sent_at, error) VALUES (:m, :d, :r, 'sending', :c, :id, "
                ":at, NULL, :e)"), params)
        return True
    except IntegrityError:
        pass
    with engine.begin() as conn:
        taken = conn.execute(text(
            "UPDATE delivery_ledger SET status = 'sending', channel = :c, message_id = :id, "
            "attempted_at = :at, error = :e WHERE report_month = :m AND document = :d "
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
                      recipient: str | None = None, note: str = "settled by an operator",
                      message_id: str | None = None) -> int:
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
    if message_id:
        sql += " AND message_id = :id"
        params["id"] = message_id
    with engine.begin() as conn:
        return conn.execute(text(sql), params).rowcount


# --------------------------------------------------------------------------- deliver

@dataclass(frozen=True)
class SendBudget:
    """How long one try keeps going against a mail server that says "try later".

    After a temporary refusal (4xx, or a hang-up before the message was handed over) the try
    carries on with the other messages, reconnecting when the server hung up, and comes back to
    the refused ones in up to ``rounds`` passes, ``pause_seconds`` apart (doubling). It stops
    early after ``temporary_failures`` temporary refusals in all, ``consecutive_failures`` in a
    row without a message taken, when no server answers at all, or after ``unknown_outcomes``
    unknown outcomes; what is left fails the try retryably ("N of M deliveries still to send")
    and the next try (the send task's retries) goes on. Environment: ``SUPERVISION_SEND_<FIELD>``
    in capitals, e.g. ``SUPERVISION_SEND_ROUNDS=3`` (docs/schedule-and-delivery.md)."""

    temporary_failures: int = 30
    consecutive_failures: int = 3
    rounds: int = 3
    pause_seconds: float = 20.0
    unknown_outcomes: int = 2

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "SendBudget":
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"SUPERVISION_SEND_{f.name.upper()}"
            raw = environ.get(name, "").strip()
            if not raw:
                continue
            kind = float if f.type in (float, "float") else int
            try:
                values[f.name] = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{name} must be a number, got {raw!r}") from exc
            if values[f.name] < (0 if kind is float else 1):
                raise ValueError(f"{name} must be at least {0 if kind is float else 1}, got {raw!r}")
        return cls(**values)


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
    total: int = 0                                                         # deliveries of the month
    pending: list[tuple[str, str, str]] = field(default_factory=list)      # (document, recipient, city)
    where: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> (city, Message-ID)
    temporary_failures: int = 0
    unknown_outcomes: int = 0
    rounds: int = 0
    stopped: str | None = None   # why this try ended before everything was tried
    consecutive: int = field(default=0, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "messages": self.messages,
                "recipients_sent": self.recipients_sent,
                "recipients_skipped": self.recipients_skipped,
                "recipients_failed": self.recipients_failed,
                "recipients_unresolved": len(self.unresolved),
                "recipients_pending": len(self.pending), "deliveries": self.total,
                "temporary_failures": self.temporary_failures, "rounds": self.rounds}

    def incomplete(self, month: str) -> DeliveryIncomplete | None:
        """The error to raise when someone was not reached (None when everyone was)."""
        if not self.failed and not self.unresolved and not self.pending:
            return None
        return DeliveryIncomplete(month, self.failed, self.unresolved,
                                  retryable=self.temporary and not self.unresolved,
                                  pending=self.pending, total=self.total, stopped=self.stopped,
                                  where=self.where)

    def temporary_failure(self, why: str, budget: SendBudget, unreachable: bool = False) -> None:
        """Count a "try later"; stop the try when the budget says so."""
        self.temporary_failures += 1
        self.consecutive += 1
        if unreachable:
            self.stopped = f"the mail server cannot be reached ({why})"
        elif self.temporary_failures >= budget.temporary_failures:
            self.stopped = (f"{self.temporary_failures} temporary refusals, the budget of one try "
                            f"(SUPERVISION_SEND_TEMPORARY_FAILURES); last: {why}")
        elif self.consecutive >= budget.consecutive_failures:
            self.stopped = (f"{self.consecutive} temporary refusals in a row "
                            f"(SUPERVISION_SEND_CONSECUTIVE_FAILURES); last: {why}")

    def unknown_outcome(self, budget: SendBudget) -> None:
        self.unknown_outcomes += 1
        if self.unknown_outcomes >= budget.unknown_outcomes:
            self.stopped = (f"{self.unknown_outcomes} messages with an unknown outcome "
                            "(SUPERVISION_SEND_UNKNOWN_OUTCOMES): the connection breaks while the "
                            "server answers")


def _claim_recipients(engine: Engine, month: str, msg: Outgoing, channel: str, msg_id: str,
                      at: str, states: dict[tuple[str, str], str], report: DeliveryReport,
                      note: str | None = None) -> set[str]:
    """Claim the message's recipients still to send; report the unresolved ones."""
    claimed: set[str] = set()
    unresolved = {(d, r) for d, r, _ in report.unresolved}
    for r in msg.recipients:
        key = (msg.document, r.email)
        state = states.get(key)
        if state == SENT or key in unresolved:
            continue
        if state in (SENDING, UNKNOWN):
            report.unresolved.append((msg.document, r.email, state))
        elif r.email not in claimed and claim(engine, month, msg.document, r.email, channel,
                                              msg_id, at, note=note):
            claimed.add(r.email)
        else:  # taken by an attempt that does not hold the month's send lock
            report.unresolved.append((msg.document, r.email, "claimed elsewhere"))
    return claimed


def _send_message(engine: Engine, month: str, msg: Outgoing, transport: Transport, sender: str,
                  states: dict[tuple[str, str], str], report: DeliveryReport, budget: SendBudget,
                  errors: dict[tuple[str, str], tuple[str, bool]], clock: Callable[[], datetime],
                  note: str | None = None) -> bool:
    """One message, one SMTP transaction, to its recipients still to send; True when some of
    them were refused for now (a later pass tries again)."""
    msg_id = message_id(month, msg, sender)
    for r in msg.recipients:
        report.where[(msg.document, r.email)] = (msg.city, msg_id)
    now = clock()
    at = now.isoformat(timespec="seconds")
    claimed = _claim_recipients(engine, month, msg, transport.channel, msg_id, at, states, report,
                                note=note)
    if not claimed:
        return False
    addresses = [r.email for r in msg.recipients if r.email in claimed]
    # the full header (every recipient of the message) whoever is still to receive it: a
    # recipient reached later gets the same message; the envelope names only the claimed ones
    message = build_message(msg, sender, msg.to, msg.cc, now, msg_id)

    def outcome(address: str, status: str, **kw: Any) -> None:
        settle(engine, month, msg.document, address, status, **kw)
        states[(msg.document, address)] = status

    try:
        refused = transport.send(message, addresses)
    except NotDelivered as exc:
        for a in addresses:
            outcome(a, FAILED, error=str(exc))
            errors[(msg.document, a)] = (str(exc), exc.retryable)
        if not exc.retryable:
            report.consecutive = 0   # the server answered
            return False
        log.warning("delivery %s: %s to %s: %s (carrying on with the other messages)",
                    month, msg.document, msg.city, exc)
        report.temporary_failure(str(exc), budget, unreachable=exc.unreachable)
        return True
    except Exception as exc:  # noqa: BLE001 - the connection broke while the server answered
        for a in addresses:
            outcome(a, UNKNOWN, error=f"outcome unknown: {exc!r}")
        report.unresolved.extend((msg.document, a, UNKNOWN) for a in addresses)
        log.error("delivery %s: %s to %s (Message-ID %s): outcome unknown: %r",
                  month, msg.document, msg.city, msg_id, exc)
        report.unknown_outcome(budget)
        return False
    except BaseException as exc:   # killed or interrupted while the server answered
        for a in addresses:
            outcome(a, UNKNOWN, error=f"outcome unknown: {exc!r}")
        raise
    report.messages += 1
    taken_at = clock().isoformat(timespec="seconds")
    again = False
    for a in addresses:
        if a in refused:
            outcome(a, FAILED, error=str(refused[a]))
            errors[(msg.document, a)] = (str(refused[a]), refused[a].temporary)
            again = again or refused[a].temporary
        else:
            outcome(a, SENT, at=taken_at)
            report.recipients_sent += 1
    if again:
        report.temporary_failure(
            "; ".join(str(refused[a]) for a in addresses if a in refused and refused[a].temporary), budget)
    else:
        report.consecutive = 0
    return again


def _still_to_send(messages: list[Outgoing], states: dict[tuple[str, str], str],
                   report: DeliveryReport, errors: dict[tuple[str, str], tuple[str, bool]]) -> None:
    """Fill the report's pending / failed lists from the ledger states at the end of the try."""
    unresolved = {(d, r) for d, r, _ in report.unresolved}
    for msg in messages:
        for r in msg.recipients:
            key = (msg.document, r.email)
            if states.get(key) == SENT or key in unresolved:
                continue
            report.pending.append((msg.document, r.email, msg.city))
            if key in errors:
                why, temporary = errors[key]
                report.failed.append((msg.document, r.email, why))
                report.temporary = report.temporary and temporary
    report.recipients_failed = len(report.failed)


def deliver(engine: Engine, month: str, messages: list[Outgoing], transport: Transport,
            sender: str, clock: Callable[[], datetime] = _now_utc, *,
            budget: SendBudget | None = None, lock_wait: float | None = None,
            sleep: Callable[[float], None] = time.sleep) -> DeliveryReport:
    """Send what has not been sent; the ledger records every recipient's outcome.

    Holds the month's send lock (:mod:`supervision.delivery_lock`; waits up to ``lock_wait``
    seconds, then raises :class:`~supervision.delivery_lock.SendInProgress`). Temporary refusals
    do not end the try: the other messages go on and the refused ones get further passes, within
    ``budget`` (:class:`SendBudget`). Refusals, what is still to send and unknown outcomes are
    in the returned report (see :meth:`DeliveryReport.incomplete`)."""
    from .delivery_lock import holder_description, send_lock  # noqa: PLC0415

    check_attachments(messages)
    budget = budget or SendBudget.from_env()
    report = DeliveryReport(transport.channel)
    report.total = sum(len(m.recipients) for m in messages)
    errors: dict[tuple[str, str], tuple[str, bool]] = {}
    note = f"claimed by {holder_description()}"
    with send_lock(engine, month, wait=lock_wait) as lock:
        states = ledger_states(engine, month)
        report.recipients_skipped = sum(states.get((m.document, r.email)) == SENT
                                        for m in messages for r in m.recipients)
        queue = list(messages)
        try:
            for round_no in range(1, budget.rounds + 1):
                if round_no > 1:
                    pause = budget.pause_seconds * 2 ** (round_no - 2)
                    log.info("delivery %s: pass %d of %d in %.0f s for %d message(s) refused for now",
                             month, round_no, budget.rounds, pause, len(queue))
                    transport.close()
                    sleep(pause)
                report.rounds = round_no
                again = []
                for msg in queue:
                    if report.stopped is None and not lock.renew():
                        report.stopped = "the month's send lock was lost (taken over as stale)"
                    if report.stopped is not None:
                        break
                    if _send_message(engine, month, msg, transport, sender, states, report, budget,
                                     errors, clock, note=note):
                        again.append(msg)
                queue = again
                if not queue or report.stopped is not None:
                    break
        finally:
            transport.close()
        _still_to_send(messages, states, report, errors)
    if report.pending or report.unresolved:
        log.warning("delivery %s: %s; stopped: %s", month, report.as_dict(), report.stopped or "no")
    else:
        log.info("delivery %s: %s", month, report.as_dict())
    return report
