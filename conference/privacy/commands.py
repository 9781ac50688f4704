"""``flask --app wsgi privacy erase --edition SLUG``: erase a past edition's personal data."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from conference.core.db import db
from conference.core.errors import DomainError
from conference.events.services import get_edition
from conference.privacy.services import erase_edition

privacy_cli = AppGroup("privacy", help="Personal data: erase a past edition's.")


@privacy_cli.command("erase")
@click.option("--edition", "slug", required=True, help="The edition's slug, e.g. traef-2027.")
def erase(slug: str) -> None:
    """Erase the personal data of an edition that has ended (invoices are kept)."""
    try:
        edition = get_edition(slug)
        result = erase_edition(edition, actor="system")
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    db.session.commit()
    if not result.first_time:
        click.echo(f"{slug} was erased before, on {result.erasure.erased_at:%Y-%m-%d %H:%M} UTC.")
    for kind, count in result.counts.items():
        click.echo(f"{kind}: {count}")
