"""Migration 0007 moves each ticket type's one access code into an access_code row,
with the places already booked with it counted as used, and back on downgrade."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from conference.core.db import db

EDITION = """
INSERT INTO edition (id, slug, name, starts_at, ends_at, venue_name, venue_address,
  description, programme, contact_name, contact_email, contact_phone, questions_email,
  registration_opens_at, registration_closes_at, transfer_deadline, seller_name,
  seller_address, seller_cvr, seller_email, seller_bank_reg, seller_bank_account,
  seller_iban, seller_bic, few_places_threshold, max_group_size, offer_valid_hours,
  transfer_outside_domain, created_at)
VALUES (1, 'x', 'X', '2027-03-01 08:00', '2027-03-01 16:00', 'v', 'a', '', '', '', '', '',
  '', '2026-11-01', '2027-02-01', '2027-02-27', '', '', '', '', '', '', '', '', 25, 20, 48,
  'approval', '2026-01-01')
"""
TYPES = """
INSERT INTO ticket_type (id, edition_id, quota_id, name, price_net_ore, vat_percent,
  is_public, access_code, sort_order)
VALUES (1, 1, 1, 'Deltager', 257500, 25, true, NULL, 1),
       (2, 1, 1, 'Taler', 0, 25, false, 'taler2027', 2),
       (3, 1, 1, 'Partner', 100000, 25, false, 'PARTNER', 3)
"""
ORDER = """
INSERT INTO registration_order (id, reference, edition_id, status, payment_method,
  payment_status, language, created_at, manage_token_hash, booker_name, booker_email,
  booker_phone, organisation, organisation_type, invoice_organisation, invoice_address,
  invoice_postcode, invoice_city, total_net_ore, total_vat_ore)
VALUES (1, 'DTAAAAAA', 1, 'confirmed', 'invoice', 'free', 'da', '2026-12-01', 'h1', 'B',
  'b@x.dk', '1', 'Org', 'municipality', 'O', 'A', '8000', 'C', 0, 0)
"""
ATTENDEES = """
INSERT INTO attendee (id, order_id, ticket_type_id, status, name, email, job_title, dietary,
  unit_price_net_ore, vat_percent, manage_token_hash, ticket_code, created_at, ticket_version)
VALUES (1, 1, 2, 'confirmed', 'T', 't@x.dk', '', '', 0, 25, 'h2', 'c1', '2026-12-01', 1),
       (2, 1, 2, 'cancelled', 'U', 'u@x.dk', '', '', 0, 25, 'h3', 'c2', '2026-12-01', 1)
"""


def test_old_codes_become_access_codes_and_go_back(app):
    db.session.remove()
    downgrade(revision="0007")
    try:
        with db.engine.begin() as connection:
            for statement in (
                EDITION,
                "INSERT INTO quota (id, edition_id, name, capacity, taken) "
                "VALUES (1, 1, 'P', 50, 1)",
                TYPES,
                ORDER,
                ATTENDEES,
            ):
                connection.execute(text(statement))
        upgrade()
        with db.engine.begin() as connection:
            codes = connection.execute(
                text(
                    "SELECT ticket_type_id, code, price_net_ore, max_uses, used "
                    "FROM access_code ORDER BY ticket_type_id"
                )
            ).all()
            # Upper case; the free type's code is free; the other keeps the type's
            # price; as many uses as places; the one confirmed place counted.
            assert [tuple(row) for row in codes] == [
                (2, "TALER2027", 0, 50, 1),
                (3, "PARTNER", None, 50, 0),
            ]
            # The rebuilt ticket_type kept every row its attendees point to.
            assert connection.execute(text("SELECT count(*) FROM attendee")).scalar() == 2
        downgrade(revision="0007")
        with db.engine.begin() as connection:
            assert connection.execute(
                text("SELECT id, access_code FROM ticket_type ORDER BY id")
            ).all() == [(1, None), (2, "TALER2027"), (3, "PARTNER")]
            for table in ("attendee", "registration_order", "ticket_type", "quota", "edition"):
                connection.execute(text(f"DELETE FROM {table}"))
    finally:
        upgrade()
