"""The delivery ledger of a month as an operator reads it (``python -m supervision.cli delivery M``).

Per message (document and city) its Message-ID — what the mail server's log is searched for when
an outcome is unknown (runbook: settling an unknown outcome) — and per recipient the status, when
it was attempted and sent (UTC), and why it is not ``sent``:

* ``sending``: being sent now (the month's send lock is held), or left by a send that ended
  between claiming the row and recording the server's answer (killed, worker lost): the server
  may have the message; treat it as unknown and settle it;
* ``unknown``: the connection broke while the server answered; settle it;
* ``failed``: the server did not take it, and the next send tries again — unless the address is
  no longer in ``recipients.csv`` (replaced): **superseded**, never resent; the city's new
  address receives the message instead.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from . import delivery
from .delivery import FAILED, SENDING, SENT, UNKNOWN

SUPERSEDED = "superseded"


@dataclass(frozen=True)
class LedgerLine:
    document: str
    city: str
    message_id: str
    recipient: str
    status: str          # the ledger's status, or "superseded" for a failed, replaced address
    attempted_at: str
    sent_at: str
    note: str


def city_codes(month: str) -> dict[str, str]:
    """city code (as in the Message-ID) -> city name, from the month's programme."""
    from .config import programme_for_month  # noqa: PLC0415
    from .months import Month  # noqa: PLC0415

    try:
        return {c.code: c.name for c in programme_for_month(Month.parse(month)).province.cities}
    except Exception:  # noqa: BLE001 - the view works without names
        return {}


def city_of(message_id: str | None, codes: dict[str, str]) -> str:
    """The city of a Message-ID ``<2020-06.monthly_bulletin_changsha.<hash>@domain>``."""
    local = (message_id or "").strip("<>").split("@", 1)[0]
    parts = local.split(".")
    if len(parts) < 3:
        return ""
    code = parts[1].rsplit("_", 1)[-1]
    return codes.get(code, code)


def _reason(row: dict[str, Any], holder: str | None) -> str:
    status, error = row["status"], row["error"] or ""
    if status == SENDING:
        if holder:
            return f"being sent now ({holder})"
        who = error.removeprefix("claimed by ") if error.startswith("claimed by ") else "an earlier send"
        return (f"left by {who}, which ended between claiming it and recording the server's answer "
                "(killed, worker lost): the server may have it — look the Message-ID up, then settle")
    if status == UNKNOWN:
        return f"{error} — look the Message-ID up, then settle"
    return error


def ledger_lines(engine: Engine, month: str,
                 recipients: list[delivery.Recipient] | None) -> tuple[list[LedgerLine], str | None]:
    """The month's ledger, one line per delivery, ordered by message; and who holds the lock."""
    from .delivery_lock import current_holder  # noqa: PLC0415

    holder = current_holder(engine, month)
    codes = city_codes(month)
    rows = delivery.ledger_rows(engine, month)
    current = None if recipients is None else {r.email for r in recipients}
    by_city: dict[str, list[str]] = {}
    for r in recipients or []:
        by_city.setdefault(r.city, []).append(r.email)
    in_message: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        in_message.setdefault((row["document"], row["message_id"] or ""), set()).add(row["recipient"])
    lines = []
    for row in sorted(rows, key=lambda r: (r["message_id"] or "", r["document"], r["recipient"])):
        city = city_of(row["message_id"], codes)
        status, note = row["status"], _reason(row, holder)
        if status == FAILED and current is not None and row["recipient"] not in current:
            status = SUPERSEDED
            new = [a for a in by_city.get(city, [])
                   if a not in in_message[(row["document"], row["message_id"] or "")]]
            note = (f"address no longer in recipients.csv, never resent"
                    + (f"; {city}'s new address {', '.join(new)} gets it at the next send" if new else "")
                    + f" (last failure: {row['error'] or '-'})")
        lines.append(LedgerLine(row["document"], city, row["message_id"] or "", row["recipient"],
                                status, row["attempted_at"] or "", row["sent_at"] or "", note))
    return lines, holder


def render(month: str, lines: list[LedgerLine], holder: str | None, recipients_note: str | None = None,
           only_open: bool = False) -> str:
    counts = Counter(line.status for line in lines)
    order = [SENT, SENDING, UNKNOWN, FAILED, SUPERSEDED]
    summary = ", ".join(f"{k} {counts[k]}" for k in order if counts[k]) or "nothing recorded"
    out = [f"delivery ledger {month}: {summary} ({len(lines)} deliveries, "
           f"{len({(l.document, l.message_id) for l in lines})} messages; times UTC)",
           f"send lock: {'held by ' + holder if holder else 'free (no send of the month is running)'}"]
    if recipients_note:
        out.append(recipients_note)
    width = max((len(l.recipient) for l in lines), default=10)
    current = None
    for line in lines:
        if only_open and line.status == SENT:
            continue
        key = (line.document, line.message_id)
        if key != current:
            current = key
            out.append("")
            out.append(f"{line.document} · {line.city or '?'} · Message-ID {line.message_id or '-'}")
        out.append(f"  {line.status:10} {line.recipient:{width}}  attempted {line.attempted_at or '-':25}  "
                   f"sent {line.sent_at or '-':25}  {line.note}".rstrip())
    return "\n".join(out)


def ledger_view(engine: Engine, month: str, inputs_dir: Path | None = None,
                only_open: bool = False) -> str:
    """The text of ``python -m supervision.cli delivery M``."""
    from .errors import SupervisionError  # noqa: PLC0415
    from .landing import recipients_file  # noqa: PLC0415

    recipients, note = None, None
    if inputs_dir is not None:
        try:
            recipients = delivery.read_recipients(recipients_file(inputs_dir))
        except (SupervisionError, OSError) as exc:
            note = f"recipients.csv not read ({exc}): superseded addresses not marked"
    lines, holder = ledger_lines(engine, month, recipients)
    return render(month, lines, holder, note, only_open)
