"""Messages to attendees and their recipients; erasures of an edition's personal data and the links they retired

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "communication_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_by", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("subject_en", sa.String(length=300), nullable=True),
        sa.Column("body_en", sa.Text(), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["edition_id"], ["edition.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("communication_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_communication_message_edition_id"), ["edition_id"], unique=False
        )

    op.create_table(
        "communication_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["communication_message.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["registration_order.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("communication_recipient", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_communication_recipient_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_communication_recipient_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_communication_recipient_outbox_message_id"),
            ["outbox_message_id"],
            unique=False,
        )

    op.create_table(
        "edition_erasure",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.Column("erased_by", sa.String(length=80), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["edition_id"], ["edition.id"]),
        sa.PrimaryKeyConstraint("edition_id"),
    )
    op.create_table(
        "erased_link",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["edition_id"], ["edition.id"]),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("erased_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erased_link_edition_id"), ["edition_id"], unique=False)


def downgrade():
    with op.batch_alter_table("erased_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erased_link_edition_id"))
    op.drop_table("erased_link")
    op.drop_table("edition_erasure")
    with op.batch_alter_table("communication_recipient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_communication_recipient_outbox_message_id"))
        batch_op.drop_index(batch_op.f("ix_communication_recipient_order_id"))
        batch_op.drop_index(batch_op.f("ix_communication_recipient_message_id"))
    op.drop_table("communication_recipient")
    with op.batch_alter_table("communication_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_communication_message_edition_id"))
    op.drop_table("communication_message")
