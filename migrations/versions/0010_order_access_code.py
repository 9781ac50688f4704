"""The access code an order used, so its uses come back when the places do

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:30:00.000000

"""

from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


@contextmanager
def _rebuilding_referenced_table():
    """SQLite rebuilds registration_order (copy, drop, rename) to add a foreign key,
    and dropping it would break the references its attendees, invoices and e-mails
    hold to it: foreign keys off for the rebuild (possible only between
    transactions), checked after, on again. As in 0008; PostgreSQL alters in place."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys = OFF")
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    yield
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the rebuild: {broken}")
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys = ON")
    bind.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade():
    # Orders placed before this revision keep no code: their uses stay counted.
    with _rebuilding_referenced_table():
        with op.batch_alter_table("registration_order", schema=None) as batch_op:
            batch_op.add_column(sa.Column("access_code_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f("fk_registration_order_access_code_id_access_code"),
                "access_code",
                ["access_code_id"],
                ["id"],
            )


def downgrade():
    with _rebuilding_referenced_table():
        with op.batch_alter_table("registration_order", schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f("fk_registration_order_access_code_id_access_code"),
                type_="foreignkey",
            )
            batch_op.drop_column("access_code_id")
