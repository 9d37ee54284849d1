"""A real SMTP server on localhost for delivery tests (aiosmtpd), which can refuse a recipient,
answer a message with an error, or take a message and hang up before answering."""
from __future__ import annotations

import asyncio
import email
import socket
from collections import Counter
from contextlib import contextmanager
from email import policy
from typing import Iterator

from aiosmtpd.controller import Controller


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

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.fail_data_at == self.data_calls:
            return self.fail_reply
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


@contextmanager
def local_smtp() -> Iterator[Recorder]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = Recorder(port)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
