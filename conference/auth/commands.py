"""``flask --app wsgi users create --role organiser EMAIL``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from conference.auth.models import Role
from conference.auth.services import create_staff_user
from conference.core.db import db
from conference.core.errors import DomainError

users_cli = click.Group("users", help="Staff users.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default="", help="Full name shown in the back office.")
@click.password_option(
    "--password", envvar="STAFF_PASSWORD", help="Prompted for when not given (or STAFF_PASSWORD)."
)
@with_appcontext
def create_user(email: str, role: str, name: str, password: str) -> None:
    """Create a staff user who can log in at /staff/login."""
    try:
        user = create_staff_user(email, role, password, name=name, actor="cli")
    except DomainError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Created {user.role} {user.email}.")
