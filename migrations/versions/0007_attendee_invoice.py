"""A place moved to another ticket type at another price is billed on an invoice of its own

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:40:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("attendee", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_attendee_invoice_id_invoice"), "invoice", ["invoice_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("attendee", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_attendee_invoice_id_invoice"), type_="foreignkey")
        batch_op.drop_column("invoice_id")
