"""``flask --app wsgi payments expire-holds | send-refunds | reconcile``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from conference.payments.services import (
    card_payments_enabled,
    expire_stale_checkouts,
    reconcile,
    send_pending_refunds,
)

payments_cli = click.Group("payments", help="Card payments through Stripe.")


@payments_cli.command("expire-holds")
@with_appcontext
def expire_holds_command() -> None:
    """Release card holds that ran out and expire their Stripe Checkout Sessions."""
    count = expire_stale_checkouts()
    click.echo(f"Released {count} card hold(s).")


@payments_cli.command("send-refunds")
@with_appcontext
def send_refunds_command() -> None:
    """Send recorded refunds to Stripe and retry failed ones."""
    run = send_pending_refunds()
    for line in run.errors:
        click.echo(line, err=True)
    click.echo(f"Refunds sent {run.sent}, failed {run.failed}.")


@payments_cli.command("reconcile")
@with_appcontext
def reconcile_command() -> None:
    """Ask Stripe about every open Checkout Session and repair what lost webhooks left."""
    if not card_payments_enabled():
        raise click.ClickException("STRIPE_SECRET_KEY is not set: there is no Stripe to ask.")
    result = reconcile()
    for line in result.repaired:
        click.echo(line)
    for line in result.errors:
        click.echo(f"error: {line}", err=True)
    for line in result.attention:
        click.echo(f"needs a person: {line}", err=True)
    click.echo(
        f"Checked {result.checked} open session(s): repaired {len(result.repaired)}, "
        f"errors {len(result.errors)}; refunds sent {result.refunds.sent}, "
        f"failed {result.refunds.failed}."
    )
