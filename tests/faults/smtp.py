"""An SMTP server (aiosmtpd, in the test process) that misbehaves on request."""

from __future__ import annotations

from collections import Counter

from tests.mail.conftest import Inbox


class FaultyInbox(Inbox):
    """The test inbox, plus faults per recipient, each used up once it happened.

    ``tempfail[address] = n``: the next n transfers of a message to the address
    get ``451`` after the data was sent (the server keeps nothing).
    ``drop_after_accept[address] = n``: the next n are kept by the server, which
    then drops the connection before answering ``250``; the client cannot tell
    whether the message arrived.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tempfail: Counter[str] = Counter()
        self.drop_after_accept: Counter[str] = Counter()
        self.answered_451 = 0
        self.dropped = 0

    async def handle_DATA(self, server, session, envelope):
        (address,) = envelope.rcpt_tos
        if self.tempfail[address] > 0:
            self.tempfail[address] -= 1
            self.answered_451 += 1
            return "451 4.3.0 Temporary local problem, try again later"
        answer = await super().handle_DATA(server, session, envelope)
        if self.drop_after_accept[address] > 0:
            self.drop_after_accept[address] -= 1
            self.dropped += 1
            # Kept, but the answer never leaves: the connection is gone first.
            server.transport.abort()
        return answer

    def copies(self) -> Counter[str]:
        return Counter(m["To"] for m in self.messages)
