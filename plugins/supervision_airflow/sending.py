"""The send task's Airflow side: the SMTP connection, and which failures Airflow retries.

* ``SUPERVISION_DELIVERY=smtp``: the Airflow connection ``SUPERVISION_SMTP_CONN_ID`` (default
  ``supervision_smtp``; host, port, login, ``disable_ssl``/``disable_tls``, ``from_email`` in its
  extra) is opened through the SMTP provider's hook, and the domain package's ledger-driven
  transport talks SMTP on it. No address, password or host lives in code.
* otherwise (the embedded default) the package writes .eml files to the outbox.

Connection failures and "try later" replies are retried by Airflow (the task's ``retries``)
once the try's own budget is spent (``supervision.delivery.SendBudget``), and so is a send
that found another send of the month in progress; the ledger makes each retry send only what
did not go. Data errors — a bad ``recipients.csv``,
missing attachments, a missing connection, a permanent refusal, an unknown outcome — fail the
task at once (``AirflowFailException``): retrying cannot fix them.
"""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Any

log = logging.getLogger(__name__)


def smtp_connection(conn_id: str):
    """The Airflow connection, or a task failure naming what to configure."""
    from airflow.sdk import BaseHook  # noqa: PLC0415
    from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - not found, or not readable: both need a person
        raise AirflowFailException(
            f"SUPERVISION_DELIVERY=smtp but the Airflow connection {conn_id!r} is not available "
            f"({exc}); create it (conn_type smtp; extra: from_email, disable_ssl/disable_tls) or "
            f"set SUPERVISION_DELIVERY=outbox") from exc


def smtp_client(conn_id: str) -> smtplib.SMTP:
    """A connected, authenticated client, built by the SMTP provider's hook from the connection
    (SSL or STARTTLS, login, OAuth2 as the connection says)."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook  # noqa: PLC0415

    hook = SmtpHook(smtp_conn_id=conn_id)
    hook.get_conn()
    # the hook keeps its client private; its public send_email_smtp builds its own message and
    # retries any failure (which could deliver twice), so the ledger-driven transport drives the
    # SMTP conversation itself on the hook's connected client
    return hook._smtp_client  # noqa: SLF001


def smtp_transport(s) -> tuple[Any, str]:
    """The package's SMTP transport on the Airflow connection, and the sender address."""
    from supervision.delivery import SmtpTransport  # noqa: PLC0415

    conn = smtp_connection(s.smtp_conn_id)
    sender = conn.extra_dejson.get("from_email") or s.sender
    return SmtpTransport(lambda: smtp_client(s.smtp_conn_id), sender), sender


def send(s) -> dict[str, Any]:
    """Deliver the month (``pipeline.send``), mapping failures to retry or fail."""
    from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

    from supervision import pipeline  # noqa: PLC0415
    from supervision.config import ConfigError  # noqa: PLC0415
    from supervision.delivery import DeliveryIncomplete, NotDelivered  # noqa: PLC0415
    from supervision.delivery_lock import SendInProgress  # noqa: PLC0415
    from supervision.errors import SupervisionError  # noqa: PLC0415

    transport, sender = (None, None)
    if s.send and s.delivery == "smtp":
        transport, sender = smtp_transport(s)
    try:
        return pipeline.send(s, transport, sender)
    except (NotDelivered, DeliveryIncomplete, SendInProgress) as exc:
        if exc.retryable:
            # the server is unreachable or said "try later" (what the try's budget could not
            # send is named), or another send of the month holds it: Airflow retries
            raise
        raise AirflowFailException(str(exc)) from exc
    except (SupervisionError, ConfigError, ValueError) as exc:
        raise AirflowFailException(str(exc)) from exc


def notify(s, subject: str, body: str, addresses: list[str], name: str,
           html: str | None = None) -> str:
    """Send an internal notification (the steward's approval request): SMTP on the connection,
    or an .eml file under ``<outbox>/<month>/steward/``. Not a city delivery: no ledger. With
    ``html`` the message is multipart/alternative: the text, and the HTML with working links."""
    message = EmailMessage()
    message["Subject"] = subject
    message["To"] = ", ".join(addresses)
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    if s.delivery == "smtp":
        conn = smtp_connection(s.smtp_conn_id)
        message["From"] = conn.extra_dejson.get("from_email") or s.sender
        client = smtp_client(s.smtp_conn_id)
        try:
            client.send_message(message, to_addrs=addresses)
        finally:
            client.quit()
        return f"smtp:{','.join(addresses)}"
    message["From"] = s.sender
    folder = s.outbox_dir / s.month / "steward"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.eml"
    path.write_bytes(bytes(message))
    return str(path)
