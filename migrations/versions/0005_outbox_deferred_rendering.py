"""Outbox messages the worker renders: their template and snapshot; subject and body empty until then

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:26:53.817056

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("context", sa.JSON(), nullable=True))
        batch_op.alter_column("subject", existing_type=sa.VARCHAR(length=300), nullable=True)
        batch_op.alter_column("body_text", existing_type=sa.TEXT(), nullable=True)


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.alter_column("body_text", existing_type=sa.TEXT(), nullable=False)
        batch_op.alter_column("subject", existing_type=sa.VARCHAR(length=300), nullable=False)
        batch_op.drop_column("context")
        batch_op.drop_column("template")
