"""``flask --app wsgi registration expire-offers``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from conference.core.db import db
from conference.registration.services import expire_all_offers

registration_cli = click.Group("registration", help="Registrations and the waiting list.")


@registration_cli.command("expire-offers")
@with_appcontext
def expire_offers_command() -> None:
    """Release waiting-list offers that ran out and offer the places to the next in line."""
    count = expire_all_offers()
    db.session.commit()
    click.echo(f"Expired {count} offer(s).")
