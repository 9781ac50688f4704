"""``flask --app wsgi outbox run [--once]``: the worker that sends the outbox."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from conference.mail.services import send_due_messages

outbox_cli = click.Group("outbox", help="The e-mail outbox.")


@outbox_cli.command("run")
@click.option("--once", is_flag=True, help="Send what is due now and exit.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
@with_appcontext
def run_outbox(once: bool, interval: float) -> None:
    """Send due e-mails over SMTP with retries; also expires waiting-list offers."""
    from conference.core.db import db
    from conference.registration.services import expire_all_offers

    last_expiry = 0.0
    while True:
        if time.monotonic() - last_expiry >= 60 or once:
            expired = expire_all_offers()
            db.session.commit()
            last_expiry = time.monotonic()
            if expired:
                click.echo(f"Expired {expired} waiting-list offer(s).")
        result = send_due_messages()
        if result.sent or result.failed:
            click.echo(f"Sent {result.sent}, failed {result.failed}, gave up {result.gave_up}.")
        if once:
            return
        if not result.sent and not result.failed:
            time.sleep(interval)
        current_app.logger.debug("outbox cycle done")
