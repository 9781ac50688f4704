"""Staff second-factor (TOTP) keys sealed with the app's key instead of kept plain

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:10:00.000000

"""

from alembic import op
import sqlalchemy as sa

from conference.core.security import seal, unseal


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Every Fernet token starts with its version byte 0x80, "gAAAAA" in base64.
_SEALED_PREFIX = "gAAAAA"

staff_user = sa.table(
    "staff_user", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String)
)


def _rewrite_keys(change, wanted) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(staff_user.c.id, staff_user.c.totp_secret).where(
            staff_user.c.totp_secret.is_not(None)
        )
    ).all()
    for user_id, value in rows:
        if wanted(value):
            continue
        bind.execute(
            staff_user.update().where(staff_user.c.id == user_id).values(totp_secret=change(value))
        )


def upgrade():
    # A sealed key is about 140 characters. SQLite does not enforce a VARCHAR's
    # length, and changing it there would rebuild the table its recovery codes
    # refer to, so only PostgreSQL's column is widened.
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("staff_user", schema=None) as batch_op:
            batch_op.alter_column(
                "totp_secret", existing_type=sa.String(length=64), type_=sa.String(length=255)
            )
    # Sealed with SECRET_KEY as the app that runs this migration has it.
    _rewrite_keys(seal, lambda value: value.startswith(_SEALED_PREFIX))


def downgrade():
    _rewrite_keys(unseal, lambda value: not value.startswith(_SEALED_PREFIX))
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("staff_user", schema=None) as batch_op:
            batch_op.alter_column(
                "totp_secret", existing_type=sa.String(length=255), type_=sa.String(length=64)
            )
