"""A real SMTP server on localhost for delivery tests (aiosmtpd), which can refuse a recipient,
answer a message with an error, take a message and hang up before answering, or throttle:
refuse every n-th message with "try later" (421 also hangs up, as RFC 5321 §3.8 says)."""
from __future__ import annotations

import asyncio
import email
from collections import Counter
from contextlib import contextmanager
from email import policy
from typing import Iterator

from aiosmtpd.controller import Controller

from supervision.testing_servers import Deadline, StartupError, address_in_use, free_port


class Recorder:
    """aiosmtpd handler: keeps what it accepted; can refuse, fail or hang up on purpose."""

    def __init__(self, port: int):
        self.port = port
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse: dict[str, str] = {}       # address -> SMTP reply
        self.fail_data_at: int | None = None   # answer the n-th DATA (1-based) with fail_reply
        self.fail_reply = "421 4.3.0 Service not available, try again later"
        self.hang_up_at: int | None = None     # take the n-th DATA, then drop the connection
        self.data_calls = 0
        # throttling: refuse every n-th message (counted at throttle_at: MAIL, RCPT or DATA)
        self.throttle_every: int | None = None
        self.throttle_at = "DATA"
        self.throttle_reply = "421 4.7.0 Too many messages, try again later"
        self.throttled = 0                     # how many replies were "try later"
        self.counts: Counter = Counter()       # MAIL, RCPT (first of a message), DATA commands seen
        self.connections = 0
        self.delay = 0.0                       # seconds before answering each DATA (slow server)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    def _throttle(self, command: str, server) -> str | None:
        """The "try later" reply when this command is the n-th of its kind, else None."""
        self.counts[command] += 1
        if self.throttle_every is None or command != self.throttle_at \
                or self.counts[command] % self.throttle_every:
            return None
        self.throttled += 1
        if self.throttle_reply.startswith("421"):   # 421: the server closes the connection
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return self.throttle_reply

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        refusal = self._throttle("MAIL", server)
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if not getattr(envelope, "counted", False):   # the first RCPT of a message
            envelope.counted = True
            refusal = self._throttle("RCPT", server)
            if refusal:
                return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.fail_data_at == self.data_calls:
            return self.fail_reply
        refusal = self._throttle("DATA", server)
        if refusal:
            return refusal
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        if self.hang_up_at == self.data_calls:
            # the server took the message but the client never hears back
            server.transport.close()
            await asyncio.sleep(0.2)
        return "250 OK"

    def deliveries(self) -> Counter:
        """How often each (document, recipient) arrived."""
        return Counter((m["X-Supervision-Document"], r) for rcpts, m in self.received for r in rcpts)


def start_controller(handler, attempts: int = 5, port: int | None = None) -> Controller:
    """An aiosmtpd Controller of ``handler`` listening on 127.0.0.1, started and answering (its
    own banner exchange). The port comes from ``free_port`` (outside the ephemeral range) unless
    given; a port taken meanwhile is retried on another one; the ready wait scales with the
    machine's load. ``handler.port`` is set to the port bound."""
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        chosen = port or free_port()
        deadline = Deadline(10)
        controller = Controller(handler, hostname="127.0.0.1", port=chosen,
                                ready_timeout=deadline.allowed())
        try:
            controller.start()
        except Exception as exc:               # noqa: BLE001 - reported below
            last = exc
            try:
                controller.stop(no_assert=True)
            except Exception:                  # noqa: BLE001 - the loop never ran
                pass
            if address_in_use(str(exc)) and port is None:
                continue
            break
        handler.port = chosen
        return controller
    raise StartupError("the SMTP server (aiosmtpd)", f"it to answer on 127.0.0.1:{chosen} "
                       f"(attempt {attempt})", None, f"{type(last).__name__}: {last}")


@contextmanager
def local_smtp() -> Iterator[Recorder]:
    handler = Recorder(0)
    controller = start_controller(handler)
    try:
        yield handler
    finally:
        controller.stop()
