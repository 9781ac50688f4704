"""The exhibition: halls, stand packages and add-ons, stands, stand bookings, exhibitor passes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:42:07.304814

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stand_addon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("price_net_ore", sa.Integer(), nullable=False),
        sa.Column("vat_percent", sa.Integer(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_stand_addon_edition_id_edition")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stand_addon")),
    )
    with op.batch_alter_table("stand_addon", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stand_addon_edition_id"), ["edition_id"], unique=False)

    op.create_table(
        "stand_hall",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("width_cm", sa.Integer(), nullable=False),
        sa.Column("depth_cm", sa.Integer(), nullable=False),
        sa.Column("background", sa.LargeBinary(), nullable=True),
        sa.Column("background_type", sa.String(length=40), nullable=True),
        sa.Column("booking_mode", sa.String(length=20), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("terms_en", sa.Text(), nullable=True),
        sa.Column("staff_deadline", sa.DateTime(), nullable=True),
        sa.Column("bookings_open", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_stand_hall_edition_id_edition")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stand_hall")),
        sa.UniqueConstraint("edition_id", name=op.f("uq_stand_hall_edition_id")),
    )
    op.create_table(
        "stand_package",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("price_net_ore", sa.Integer(), nullable=False),
        sa.Column("vat_percent", sa.Integer(), nullable=False),
        sa.Column("included_passes", sa.Integer(), nullable=False),
        sa.Column("includes", sa.Text(), nullable=False),
        sa.Column("includes_en", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_stand_package_edition_id_edition")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stand_package")),
    )
    with op.batch_alter_table("stand_package", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stand_package_edition_id"), ["edition_id"], unique=False
        )

    op.create_table(
        "stand",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("x_cm", sa.Integer(), nullable=False),
        sa.Column("y_cm", sa.Integer(), nullable=False),
        sa.Column("width_cm", sa.Integer(), nullable=False),
        sa.Column("depth_cm", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.CheckConstraint("width_cm > 0 AND depth_cm > 0", name=op.f("ck_stand_positive_size")),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_stand_edition_id_edition")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["stand_package.id"], name=op.f("fk_stand_package_id_stand_package")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stand")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_stand_booking_id")),
        sa.UniqueConstraint("edition_id", "code", name="uq_stand_edition_code"),
    )
    with op.batch_alter_table("stand", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stand_edition_id"), ["edition_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stand_status"), ["status"], unique=False)

    op.create_table(
        "stand_booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("stand_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("manage_token_hash", sa.String(length=64), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("postcode", sa.String(length=10), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=False),
        sa.Column("invoice_email", sa.String(length=254), nullable=False),
        sa.Column("ean", sa.String(length=13), nullable=True),
        sa.Column("personreference", sa.String(length=100), nullable=True),
        sa.Column("buyer_order_number", sa.String(length=100), nullable=True),
        sa.Column("accounting_cost", sa.String(length=100), nullable=True),
        sa.Column("terms_accepted_at", sa.DateTime(), nullable=False),
        sa.Column("package_name", sa.String(length=200), nullable=False),
        sa.Column("package_net_ore", sa.Integer(), nullable=False),
        sa.Column("package_vat_percent", sa.Integer(), nullable=False),
        sa.Column("included_passes", sa.Integer(), nullable=False),
        sa.Column("addons", sa.JSON(), nullable=False),
        sa.Column("extra_passes", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=40), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_stand_booking_edition_id_edition")
        ),
        sa.ForeignKeyConstraint(
            ["stand_id"], ["stand.id"], name=op.f("fk_stand_booking_stand_id_stand")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stand_booking")),
        sa.UniqueConstraint("manage_token_hash", name=op.f("uq_stand_booking_manage_token_hash")),
        sa.UniqueConstraint("reference", name=op.f("uq_stand_booking_reference")),
    )
    with op.batch_alter_table("stand_booking", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stand_booking_company"), ["company"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_stand_booking_contact_email"), ["contact_email"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stand_booking_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stand_booking_edition_id"), ["edition_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_stand_booking_stand_id"), ["stand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stand_booking_status"), ["status"], unique=False)

    # stand and stand_booking refer to each other: the stand's foreign key comes
    # once both tables exist.
    with op.batch_alter_table("stand", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_stand_booking_id_stand_booking"), "stand_booking", ["booking_id"], ["id"]
        )

    op.create_table(
        "exhibitor_pass",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("job_title", sa.String(length=200), nullable=False),
        sa.Column("ticket_code", sa.String(length=40), nullable=False),
        sa.Column("ticket_version", sa.Integer(), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(), nullable=True),
        sa.Column("checked_in_by", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["stand_booking.id"],
            name=op.f("fk_exhibitor_pass_booking_id_stand_booking"),
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_exhibitor_pass_edition_id_edition")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exhibitor_pass")),
        sa.UniqueConstraint("ticket_code", name=op.f("uq_exhibitor_pass_ticket_code")),
    )
    with op.batch_alter_table("exhibitor_pass", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exhibitor_pass_booking_id"), ["booking_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_exhibitor_pass_edition_id"), ["edition_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_exhibitor_pass_name"), ["name"], unique=False)

    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stand_booking_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_invoice_stand_booking_id"), ["stand_booking_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_invoice_stand_booking_id_stand_booking"),
            "stand_booking",
            ["stand_booking_id"],
            ["id"],
        )


def downgrade():
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_invoice_stand_booking_id_stand_booking"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_invoice_stand_booking_id"))
        batch_op.drop_column("stand_booking_id")

    with op.batch_alter_table("exhibitor_pass", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exhibitor_pass_name"))
        batch_op.drop_index(batch_op.f("ix_exhibitor_pass_edition_id"))
        batch_op.drop_index(batch_op.f("ix_exhibitor_pass_booking_id"))

    op.drop_table("exhibitor_pass")
    with op.batch_alter_table("stand", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_stand_booking_id_stand_booking"), type_="foreignkey"
        )

    with op.batch_alter_table("stand_booking", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stand_booking_status"))
        batch_op.drop_index(batch_op.f("ix_stand_booking_stand_id"))
        batch_op.drop_index(batch_op.f("ix_stand_booking_edition_id"))
        batch_op.drop_index(batch_op.f("ix_stand_booking_created_at"))
        batch_op.drop_index(batch_op.f("ix_stand_booking_contact_email"))
        batch_op.drop_index(batch_op.f("ix_stand_booking_company"))

    op.drop_table("stand_booking")
    with op.batch_alter_table("stand", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stand_status"))
        batch_op.drop_index(batch_op.f("ix_stand_edition_id"))

    op.drop_table("stand")
    with op.batch_alter_table("stand_package", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stand_package_edition_id"))

    op.drop_table("stand_package")
    op.drop_table("stand_hall")
    with op.batch_alter_table("stand_addon", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stand_addon_edition_id"))

    op.drop_table("stand_addon")
