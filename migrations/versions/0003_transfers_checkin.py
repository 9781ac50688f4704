"""Place transfers, ticket versions, check-in and the edition's outside-domain rule

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 07:00:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("attendee", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ticket_version", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("checked_in_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("checked_in_by", sa.String(length=80), nullable=True))

    with op.batch_alter_table("edition", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "transfer_outside_domain",
                sa.String(length=20),
                server_default="approval",
                nullable=False,
            )
        )

    op.create_table(
        "place_transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requester_email", sa.String(length=254), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=False),
        sa.Column("from_email", sa.String(length=254), nullable=False),
        sa.Column("from_job_title", sa.String(length=200), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=False),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("to_job_title", sa.String(length=200), nullable=False),
        sa.Column("to_dietary", sa.String(length=300), nullable=False),
        sa.Column("outside_domain", sa.Boolean(), nullable=False),
        sa.Column("old_ticket_code", sa.String(length=40), nullable=True),
        sa.Column("old_manage_token_hash", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attendee_id"], ["attendee.id"], name=op.f("fk_place_transfer_attendee_id_attendee")
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_place_transfer_edition_id_edition")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["registration_order.id"],
            name=op.f("fk_place_transfer_order_id_registration_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place_transfer")),
    )
    with op.batch_alter_table("place_transfer", schema=None) as batch_op:
        for name in ("attendee_id", "order_id", "edition_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_place_transfer_{name}"), [name], unique=False)
        batch_op.create_index(
            batch_op.f("ix_place_transfer_old_ticket_code"), ["old_ticket_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_place_transfer_old_manage_token_hash"),
            ["old_manage_token_hash"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("place_transfer", schema=None) as batch_op:
        for name in (
            "old_manage_token_hash",
            "old_ticket_code",
            "status",
            "edition_id",
            "order_id",
            "attendee_id",
        ):
            batch_op.drop_index(batch_op.f(f"ix_place_transfer_{name}"))
    op.drop_table("place_transfer")

    with op.batch_alter_table("edition", schema=None) as batch_op:
        batch_op.drop_column("transfer_outside_domain")

    with op.batch_alter_table("attendee", schema=None) as batch_op:
        batch_op.drop_column("checked_in_by")
        batch_op.drop_column("checked_in_at")
        batch_op.drop_column("ticket_version")
