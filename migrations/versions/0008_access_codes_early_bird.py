"""Access codes with a price and a limited number of uses; early-bird prices on ticket types

The one code per hidden ticket type (ticket_type.access_code) becomes a row of
access_code: free when the type is free, its own price otherwise, with as many
uses as the type's quota has places (what it effectively had) and the places
already booked with it counted as used.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:40:00.000000

"""

from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


@contextmanager
def _rebuilding_referenced_table():
    """SQLite rebuilds ticket_type (copy, drop, rename) to drop a column, and dropping
    it would break the references attendees and access codes hold to it. SQLite's
    advice: switch foreign keys off for the rebuild (possible only between
    transactions), check them after, switch them on again. PostgreSQL alters in place."""
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
    op.create_table(
        "access_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("ticket_type_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("price_net_ore", sa.Integer(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("used <= max_uses", name=op.f("ck_access_code_used_within_max_uses")),
        sa.CheckConstraint("used >= 0", name=op.f("ck_access_code_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_access_code_edition_id_edition")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_type_id"],
            ["ticket_type.id"],
            name=op.f("fk_access_code_ticket_type_id_ticket_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_code")),
        sa.UniqueConstraint("edition_id", "code", name="uq_access_code_edition_code"),
    )
    with op.batch_alter_table("access_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_code_edition_id"), ["edition_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_code_ticket_type_id"), ["ticket_type_id"], unique=False
        )

    # Places booked with the old code: every place of its ticket type still held.
    op.execute(
        """
        INSERT INTO access_code
            (edition_id, ticket_type_id, code, note, price_net_ore, max_uses, used, created_at)
        SELECT t.edition_id, t.id, upper(t.access_code), '',
               CASE WHEN t.price_net_ore = 0 THEN 0 ELSE NULL END,
               CASE WHEN q.capacity > u.used THEN q.capacity ELSE u.used END,
               u.used, CURRENT_TIMESTAMP
        FROM ticket_type t
        JOIN quota q ON q.id = t.quota_id
        JOIN (SELECT t2.id AS ticket_type_id,
                     (SELECT count(*) FROM attendee a
                      JOIN registration_order o ON o.id = a.order_id
                      WHERE a.ticket_type_id = t2.id AND a.status = 'confirmed'
                        AND o.status IN ('confirmed', 'pending_payment')) AS used
              FROM ticket_type t2) u ON u.ticket_type_id = t.id
        WHERE t.access_code IS NOT NULL AND t.access_code <> ''
        """
    )

    with _rebuilding_referenced_table():
        with op.batch_alter_table("ticket_type", schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("early_bird_price_net_ore", sa.Integer(), nullable=True)
            )
            batch_op.add_column(sa.Column("early_bird_until", sa.Date(), nullable=True))
            batch_op.drop_constraint("uq_ticket_type_code", type_="unique")
            batch_op.drop_column("access_code")


def downgrade():
    with _rebuilding_referenced_table():
        with op.batch_alter_table("ticket_type", schema=None) as batch_op:
            batch_op.add_column(sa.Column("access_code", sa.String(length=60), nullable=True))
            batch_op.create_unique_constraint(
                "uq_ticket_type_code", ["edition_id", "access_code"]
            )
            batch_op.drop_column("early_bird_until")
            batch_op.drop_column("early_bird_price_net_ore")

    # The first code of each ticket type goes back on the type; the others are lost.
    op.execute(
        """
        UPDATE ticket_type SET access_code = (
            SELECT c.code FROM access_code c WHERE c.ticket_type_id = ticket_type.id
            ORDER BY c.id LIMIT 1)
        """
    )
    with op.batch_alter_table("access_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_code_ticket_type_id"))
        batch_op.drop_index(batch_op.f("ix_access_code_edition_id"))
    op.drop_table("access_code")
