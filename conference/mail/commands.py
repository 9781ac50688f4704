"""``flask --app wsgi outbox run [--once]``: the worker that sends the outbox."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from conference.mail.services import retry_failed_messages, send_due_messages

outbox_cli = click.Group("outbox", help="The e-mail outbox.")

#: Messages sent per round; a full round means more may be due, so no pause.
BATCH = 100


@outbox_cli.command("run")
@click.option("--once", is_flag=True, help="Send what is due now and exit.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
@with_appcontext
def run_outbox(once: bool, interval: float) -> None:
    """Send due e-mails over SMTP with retries; also expires waiting-list offers and card
    holds, and sends card refunds."""
    from conference.core.db import db
    from conference.payments.services import expire_stale_checkouts, send_pending_refunds
    from conference.registration.services import expire_all_offers

    last_expiry = 0.0
    while True:
        busy = False
        try:
            if once or time.monotonic() - last_expiry >= 60:
                expired = expire_all_offers()
                db.session.commit()
                last_expiry = time.monotonic()
                if expired:
                    click.echo(f"Expired {expired} waiting-list offer(s).")
                # Each hold and each refund commits on its own (Stripe is called in between).
                released = expire_stale_checkouts()
                if released:
                    click.echo(f"Released {released} card hold(s).")
                refunds = send_pending_refunds()
                if refunds.sent or refunds.failed:
                    click.echo(f"Refunds sent {refunds.sent}, failed {refunds.failed}.")
            result = send_due_messages(limit=BATCH)
            if result.sent or result.failed:
                click.echo(f"Sent {result.sent}, failed {result.failed}, gave up {result.gave_up}.")
            busy = result.sent + result.failed >= BATCH
        except Exception:
            db.session.rollback()
            if once:
                raise
            # A database hiccup must not stop the worker: log it and try again later.
            current_app.logger.exception("Outbox round failed; retrying in %s s", interval)
        if once:
            return
        if not busy:
            time.sleep(interval)


@outbox_cli.command("retry-failed")
@click.argument("message_ids", nargs=-1, type=int)
@with_appcontext
def retry_failed(message_ids: tuple[int, ...]) -> None:
    """Queue failed messages again (all, or the given ids), e.g. after an SMTP outage."""
    from conference.core.db import db

    count = retry_failed_messages(message_ids)
    db.session.commit()
    click.echo(f"Queued {count} failed message(s) again.")
