"""The public registration pages, driven through the Flask test client."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from conference import create_app
from conference.checkin.services import ticket_qr_svg
from conference.core.db import db, utcnow
from conference.core.security import unsign_ticket_code
from conference.events.models import Quota
from conference.invoicing.services import invoice_for_order
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order, WaitingListEntry
from tests.conftest import booking_form, csrf_token_from, rate_limited_app
from tests.mail.helpers import mail_texts


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _taken(edition) -> int:
    return db.session.execute(
        select(Quota.taken).where(Quota.id == edition.quotas[0].id)
    ).scalar_one()


def _register_url(edition) -> str:
    return f"/e/{edition.slug}/register"


def _field_error(html: str, field_id: str) -> str:
    """The error message shown next to a field (and check the field points to it)."""
    match = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">(.*?)</p>', html)
    assert match, f"no error shown next to {field_id}"
    tag = re.search(rf'<input[^>]*id="{re.escape(field_id)}"[^>]*>', html)
    assert tag, f"no input {field_id}"
    assert 'aria-invalid="true"' in tag.group(0)
    assert f"{field_id}-error" in re.search(r'aria-describedby="([^"]*)"', tag.group(0)).group(1)
    return re.sub(r"<[^>]+>", "", match.group(1)).replace("Error:", "").strip()


def _manage_links(kind: str) -> list[str]:
    return [
        re.search(r"http://localhost(/[mw]/[\w-]+)", body).group(1) for body in mail_texts(kind)
    ]


def _register(client, edition, count: int = 1, **overrides):
    return client.post(_register_url(edition), data=booking_form(edition, count, **overrides))


# --- the event page -----------------------------------------------------------------------


def test_event_page_shows_both_prices_in_danish_and_switches_to_english(client, edition):
    page = client.get(f"/e/{edition.slug}").get_data(as_text=True)
    assert "2.575,00\xa0kr." in page
    assert "3.218,75\xa0kr." in page
    assert "Tilmeldingen er bindende" in page or "binding" in page
    assert 'lang="da"' in page

    english = client.get(f"/e/{edition.slug}?lang=en").get_data(as_text=True)
    assert 'lang="en"' in english
    assert "DKK\xa02,575.00" in english
    assert "DKK\xa03,218.75" in english
    assert "Municipal Digitalisation Conference" in english
    # The choice is remembered for the next page.
    assert 'lang="en"' in client.get(_register_url(edition)).get_data(as_text=True)


def test_every_public_page_of_an_edition_ends_with_its_questions_address(client, edition):
    edition.questions_email = "spoergsmaal@kl.dk"
    db.session.commit()
    link = '<a href="mailto:spoergsmaal@kl.dk">spoergsmaal@kl.dk</a>'
    for path in (f"/e/{edition.slug}", _register_url(edition), f"/e/{edition.slug}/privacy"):
        footer = client.get(path).get_data(as_text=True).partition('class="site-footer"')[2]
        assert f"Spørgsmål kan sendes til {link}." in footer, path
    english = client.get(f"/e/{edition.slug}?lang=en").get_data(as_text=True)
    assert f"Questions: write to {link}." in english.partition('class="site-footer"')[2]

    # A page of no edition (an unknown one) says where to find the organiser instead.
    missing = client.get("/e/no-such-event?lang=da")
    assert missing.status_code == 404
    footer = missing.get_data(as_text=True).partition("site-footer")[2]
    assert "mailto:" not in footer
    assert "Skriv til arrangøren" in footer


def test_event_page_lets_the_booker_choose_the_number_of_participants(client, edition):
    page = client.get(f"/e/{edition.slug}").get_data(as_text=True)
    assert f'action="/e/{edition.slug}/register"' in page
    form = client.get(_register_url(edition) + "?n=3").get_data(as_text=True)
    assert 'name="attendees-2-name"' in form
    assert 'name="attendees-3-name"' not in form


# --- the form ----------------------------------------------------------------------------


def test_form_has_one_participant_by_default_and_shows_the_prices(client, edition):
    response = client.get(_register_url(edition))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="attendees-0-name"' in page
    assert 'name="attendees-1-name"' not in page
    assert "2.575,00\xa0kr." in page and "3.218,75\xa0kr." in page
    for name in (
        "booker_name",
        "organisation_type",
        "invoice_postcode",
        "cvr",
        "ean",
        "access_code",
    ):
        assert f'name="{name}"' in page
    assert "<legend>" in page
    assert _count(Order) == 0


def test_group_of_three_is_registered_and_sees_its_confirmation(client, edition):
    response = _register(client, edition, 3)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/m/[\w-]+\?new=1", location)

    assert _count(Order) == 1
    assert _count(Attendee) == 3
    assert _count(OutboxMessage) == 4  # the booker's confirmation and three tickets
    assert _taken(edition) == 3
    order = db.session.scalar(select(Order))
    assert order.ean == "5798000000001"
    assert order.total_gross_ore == 965_625

    page = client.get(location).get_data(as_text=True)
    assert order.reference in page
    for number in (1, 2, 3):
        assert f"Kollega {number}" in page
    assert 'id="confirmation"' in page
    assert "binding" in page.lower() or "bindende" in page.lower()
    assert "digitaliseringstraef@example.dk" in page  # whom to ask to send a colleague
    assert "Faktureret, ikke betalt endnu" in page
    invoice = invoice_for_order(order)
    assert invoice.total_ore == order.total_gross_ore and invoice.buyer_ean == order.ean
    assert "7.725,00\xa0kr." in page and "9.656,25\xa0kr." in page
    assert "Aarhus Kommune, Digitalisering" in page  # invoice details


def test_the_booker_link_without_new_shows_the_order_but_no_confirmation_banner(client, edition):
    location = _register(client, edition, 2).headers["Location"]
    page = client.get(location.split("?")[0]).get_data(as_text=True)
    assert 'id="confirmation"' not in page
    assert "Kollega 2" in page


def test_invalid_cvr_and_ean_and_missing_fields_are_shown_next_to_them(client, edition):
    response = _register(
        client,
        edition,
        2,
        organisation_type="private",
        cvr="12345678",
        ean="5798000000002",
        booker_name="",
        **{"attendees-1-email": ""},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "CVR" in _field_error(page, "cvr")
    assert "EAN" in _field_error(page, "ean")
    assert _field_error(page, "booker_name")
    assert _field_error(page, "attendees-1-email")
    assert 'id="error-summary"' in page
    assert 'href="#attendees-1-email"' in page
    # What was typed is kept.
    assert 'value="Kollega 2"' in page and 'value="12345678"' in page
    assert _count(Order) == 0 and _count(Attendee) == 0 and _count(OutboxMessage) == 0
    assert _taken(edition) == 0


def test_public_body_without_ean_and_company_without_cvr_are_told_why(client, edition):
    page = _register(client, edition, 1, ean="").get_data(as_text=True)
    assert "EAN" in _field_error(page, "ean")
    page = _register(client, edition, 1, organisation_type="private", cvr="").get_data(as_text=True)
    assert "CVR" in _field_error(page, "cvr")
    assert _count(Order) == 0


def test_the_same_email_twice_and_a_bad_email_are_refused(client, edition):
    page = _register(
        client,
        edition,
        3,
        **{"attendees-1-email": "kollega1@aarhus.dk", "attendees-2-email": "not-an-address"},
    ).get_data(as_text=True)
    assert "1" in _field_error(page, "attendees-1-email")
    assert _field_error(page, "attendees-2-email")
    assert _count(Order) == 0


def test_changing_the_number_of_participants_keeps_what_was_typed(client, edition):
    data = booking_form(edition, 1, attendee_count="3", action="count")
    response = client.post(_register_url(edition), data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="attendees-2-name"' in page
    assert 'value="Kollega 1"' in page and 'value="Hanne Jensen"' in page
    assert 'class="field-error"' not in page
    assert _count(Order) == 0

    # Pressing "register" after changing the number shows the new rows first.
    data = booking_form(edition, 1, attendee_count="2")
    page = client.post(_register_url(edition), data=data).get_data(as_text=True)
    assert 'name="attendees-1-name"' in page
    assert _count(Order) == 0


# --- capacity -----------------------------------------------------------------------------


def test_group_bigger_than_what_is_left_is_told_how_many_remain(client, small_edition):
    assert _register(client, small_edition, 3).status_code == 303
    response = _register(
        client, small_edition, 3, booker_email="anne@odense.dk", organisation="Odense Kommune"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-outcome="full"' in page
    assert 'data-places-left="2"' in page
    assert "Only 2 places are left" in page or "2 pladser" in page
    assert 'value="Odense Kommune"' in page  # the typed data is kept
    assert f'formaction="/e/{small_edition.slug}/waiting-list"' in page
    assert _taken(small_edition) == 3
    assert _count(Order) == 1 and _count(Attendee) == 3


def test_full_edition_says_so_and_the_group_joins_the_waiting_list(client, small_edition):
    assert _register(client, small_edition, 5).status_code == 303

    form = client.get(_register_url(small_edition)).get_data(as_text=True)
    assert 'id="fully-booked"' in form
    assert f'action="/e/{small_edition.slug}/waiting-list"' in form

    refused = _register(client, small_edition, 2, booker_email="anne@odense.dk")
    assert 'data-outcome="full"' in refused.get_data(as_text=True)
    assert _count(Order) == 1

    joined = client.post(
        f"/e/{small_edition.slug}/waiting-list",
        data=booking_form(small_edition, 2, booker_email="anne@odense.dk"),
    )
    assert joined.status_code == 303
    assert re.fullmatch(r"/w/[\w-]+", joined.headers["Location"])
    page = client.get(joined.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="position">1<', page)
    assert "Kollega 2" in page
    assert _count(WaitingListEntry) == 1
    assert _taken(small_edition) == 5

    second = client.post(
        f"/e/{small_edition.slug}/waiting-list",
        data=booking_form(small_edition, 1, booker_email="bo@vejle.dk"),
    )
    page = client.get(second.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="position">2<', page)


def test_waiting_list_refuses_a_group_that_fits(client, small_edition):
    response = client.post(
        f"/e/{small_edition.slug}/waiting-list", data=booking_form(small_edition, 2)
    )
    assert response.status_code == 200
    assert _count(WaitingListEntry) == 0


def test_leaving_the_waiting_list(client, small_edition):
    _register(client, small_edition, 5)
    joined = client.post(
        f"/e/{small_edition.slug}/waiting-list",
        data=booking_form(small_edition, 1, booker_email="anne@odense.dk"),
    )
    link = joined.headers["Location"]
    left = client.post(f"{link}/leave")
    assert left.status_code == 303
    assert db.session.scalar(select(WaitingListEntry.status)) == "withdrawn"
    page = client.get(link).get_data(as_text=True)
    assert "left the waiting list" in page.lower() or "afmeldt ventelisten" in page.lower()
    assert "/leave" not in page


def test_an_offer_is_accepted_from_its_link(client, small_edition):
    from conference.events.services import change_capacity

    _register(client, small_edition, 5)
    client.post(
        f"/e/{small_edition.slug}/waiting-list",
        data=booking_form(small_edition, 2, booker_email="anne@odense.dk"),
    )
    change_capacity(small_edition.quotas[0].id, 7, actor="staff:1")
    db.session.commit()
    (offer_link,) = _manage_links("waiting_list_offer")

    page = client.get(offer_link).get_data(as_text=True)
    assert f'action="{offer_link}/accept"' in page
    assert "2 places are held" in page or "2 pladser" in page

    accepted = client.post(f"{offer_link}/accept")
    assert accepted.status_code == 303
    assert re.fullmatch(r"/m/[\w-]+\?new=1", accepted.headers["Location"])
    assert _count(Order) == 2 and _taken(small_edition) == 7
    page = client.get(accepted.headers["Location"]).get_data(as_text=True)
    assert 'id="confirmation"' in page


def test_an_expired_offer_is_explained_and_cannot_be_accepted(client, small_edition):
    from conference.events.services import change_capacity

    _register(client, small_edition, 5)
    joined = client.post(
        f"/e/{small_edition.slug}/waiting-list",
        data=booking_form(small_edition, 1, booker_email="anne@odense.dk"),
    )
    change_capacity(small_edition.quotas[0].id, 6, actor="staff:1")
    db.session.commit()
    (offer_link,) = _manage_links("waiting_list_offer")
    entry = db.session.scalar(select(WaitingListEntry))
    entry.offer_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    page = client.get(offer_link).get_data(as_text=True)
    assert "/accept" not in page
    response = client.post(f"{offer_link}/accept")
    assert response.status_code == 200
    assert "expired" in response.get_data(as_text=True) or "udløbet" in response.get_data(
        as_text=True
    )
    assert _count(Order) == 1
    assert db.session.scalar(select(WaitingListEntry.status)) == "expired"
    # The booker's own waiting-list link explains it too.
    assert "/accept" not in client.get(joined.headers["Location"]).get_data(as_text=True)


# --- manage links and tickets -------------------------------------------------------------


def test_attendee_link_shows_only_their_own_place_and_qr(client, edition):
    _register(client, edition, 3)
    _register(
        client,
        edition,
        1,
        booker_email="anne@odense.dk",
        **{
            "attendees-0-name": "Anne Andersen",
            "attendees-0-email": "anne.a@odense.dk",
        },
    )
    links = _manage_links("ticket")
    second_colleague = links[1]
    page = client.get(second_colleague).get_data(as_text=True)
    assert "Kollega 2" in page
    assert "Kollega 1" not in page and "Kollega 3" not in page
    assert "5798000000001" not in page  # the invoice details are the booker's

    attendees = db.session.scalars(select(Attendee).order_by(Attendee.id)).all()
    own, other_in_order, other_order = attendees[1], attendees[0], attendees[3]
    qr = client.get(f"{second_colleague}/qr/{own.id}.svg")
    assert qr.status_code == 200
    assert qr.mimetype == "image/svg+xml"
    svg = qr.get_data(as_text=True)
    assert svg.startswith("<?xml") and "<svg" in svg
    assert "Kollega" not in svg and "aarhus" not in svg
    assert svg == ticket_qr_svg(own)
    assert svg != ticket_qr_svg(other_in_order)
    assert f"/qr/{own.id}.svg" in page

    assert client.get(f"{second_colleague}/qr/{other_in_order.id}.svg").status_code == 404
    assert client.get(f"{second_colleague}/qr/{other_order.id}.svg").status_code == 404


def test_booker_link_shows_a_qr_for_every_place_of_its_own_order_only(client, edition):
    booker_link = _register(client, edition, 2).headers["Location"].split("?")[0]
    _register(
        client,
        edition,
        1,
        booker_email="anne@odense.dk",
        **{
            "attendees-0-email": "anne.a@odense.dk",
        },
    )
    attendees = db.session.scalars(select(Attendee).order_by(Attendee.id)).all()
    for attendee in attendees[:2]:
        assert client.get(f"{booker_link}/qr/{attendee.id}.svg").status_code == 200
    assert client.get(f"{booker_link}/qr/{attendees[2].id}.svg").status_code == 404


def test_the_qr_payload_is_the_signed_ticket_code():
    import segno

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        attendee = Attendee(ticket_code="abc123")
        svg = ticket_qr_svg(attendee)
        from conference.core.security import sign_ticket_code

        payload = sign_ticket_code("abc123")
        assert unsign_ticket_code(payload) == "abc123"
        expected = segno.make(payload, error="m", micro=False)
        # Same modules as a QR code of exactly that payload.
        assert svg.count("<path") == 1
        assert len(_modules_of(svg)) > 100
        assert _modules_of(svg) == _modules_of_code(expected)


def _modules_of_code(qr) -> set[tuple[int, int]]:
    return {(x, y) for y, row in enumerate(qr.matrix) for x, dark in enumerate(row) if dark}


def _modules_of(svg: str) -> set[tuple[int, int]]:
    """Decode segno's SVG path (moves and horizontal runs) into dark modules."""
    path = re.search(r' d="([^"]+)"', svg).group(1)
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, args in re.findall(r"([MmHhVv])([-\d.\s]+)", path):
        numbers = [float(n) for n in args.split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command in "hH":
            end = x + numbers[0] if command == "h" else numbers[0]
            for column in range(int(min(x, end)), int(max(x, end))):
                dark.add((column - 4, int(y - 0.5) - 4))
            x = end
    return dark


def test_unknown_tokens_are_404(client, edition):
    for url in ("/m/not-a-token", "/m/not-a-token/qr/1.svg", "/w/not-a-token"):
        response = client.get(url)
        assert response.status_code == 404
        assert "Page not found" in response.get_data(as_text=True) or "ikke fundet" in (
            response.get_data(as_text=True)
        )
    assert client.post("/w/not-a-token/accept").status_code == 404


def test_manage_pages_are_private(client, edition):
    location = _register(client, edition, 1).headers["Location"]
    response = client.get(location)
    assert response.headers["Cache-Control"] == "no-store"
    assert 'content="noindex"' in response.get_data(as_text=True)


def test_manage_page_speaks_the_language_of_the_registration(client, edition):
    client.get(f"/e/{edition.slug}?lang=en")
    location = _register(client, edition, 1).headers["Location"]
    assert db.session.scalar(select(Order.language)) == "en"
    fresh = create_app_client(client)
    assert 'lang="en"' in fresh.get(location).get_data(as_text=True)
    assert 'lang="da"' in fresh.get(location + "&lang=da").get_data(as_text=True)


def create_app_client(client):
    """Another browser: same app, no cookies."""
    return client.application.test_client()


# --- when registration is not open ---------------------------------------------------------


def test_closed_registration_shows_it_and_refuses_a_post(client, edition):
    edition.registration_closes_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    page = client.get(_register_url(edition)).get_data(as_text=True)
    assert "closed" in page.lower() or "lukket" in page.lower()
    assert 'name="attendees-0-name"' not in page

    refused = _register(client, edition, 1)
    assert refused.status_code == 403
    assert "Nothing was registered" in refused.get_data(as_text=True) or "Intet" in (
        refused.get_data(as_text=True)
    )
    assert _count(Order) == 0 and _taken(edition) == 0


def test_registration_not_yet_open_says_when_it_opens(client, edition):
    edition.registration_opens_at = utcnow() + timedelta(days=3)
    db.session.commit()
    page = client.get(_register_url(edition)).get_data(as_text=True)
    assert "opens" in page or "åbner" in page
    assert 'name="attendees-0-name"' not in page
    assert _register(client, edition, 1).status_code == 403
    assert _count(Order) == 0


def test_unknown_edition_is_404(client, edition):
    assert client.get("/e/no-such-event/register").status_code == 404


# --- hidden ticket types --------------------------------------------------------------------


def test_access_code_unlocks_the_free_speaker_ticket(client, edition):
    speaker = next(t for t in edition.ticket_types if t.access_code == "TALER2027")
    page = client.get(_register_url(edition) + "?code=TALER2027").get_data(as_text=True)
    assert 'value="TALER2027"' in page
    assert "0,00\xa0kr." in page

    response = _register(client, edition, 1, access_code="taler2027")
    assert response.status_code == 303
    attendee = db.session.scalar(select(Attendee))
    assert attendee.ticket_type_id == speaker.id
    assert db.session.scalar(select(Order)).total_gross_ore == 0


def test_wrong_access_code_is_refused(client, edition):
    page = _register(client, edition, 1, access_code="GUESS").get_data(as_text=True)
    assert _field_error(page, "access_code")
    speaker = next(t for t in edition.ticket_types if t.access_code == "TALER2027")
    page = _register(client, edition, 1, ticket_type_id=str(speaker.id)).get_data(as_text=True)
    assert _field_error(page, "access_code")
    assert _count(Order) == 0


# --- safety -----------------------------------------------------------------------------------


def test_csrf_token_is_required(database_url, edition):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url, "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    url, data = _register_url(edition), booking_form(edition, 1)
    # SQLite: end the fixture's transaction so the other app can take the write lock.
    db.session.commit()
    assert client.post(url, data=data).status_code == 400
    with app.app_context():
        assert _count(Order) == 0

    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={**data, "csrf_token": csrf_token_from(page)})
    assert response.status_code == 303
    with app.app_context():
        assert _count(Order) == 1


def test_registration_posts_are_rate_limited(database_url, edition):
    app = rate_limited_app(database_url, REGISTRATION_RATE_LIMIT="2 per minute")
    client = app.test_client()
    url = _register_url(edition)
    forms = [booking_form(edition, 1, **{"attendees-0-email": f"p{n}@aarhus.dk"}) for n in range(3)]
    db.session.commit()
    assert [client.post(url, data=form).status_code for form in forms] == [303, 303, 429]
    assert client.get(url).status_code == 200


def test_no_page_offers_an_attendee_a_cancel_action(client, edition):
    booker_link = _register(client, edition, 2).headers["Location"]
    pages = [
        f"/e/{edition.slug}",
        _register_url(edition),
        booker_link,
        booker_link.split("?")[0],
        *_manage_links("ticket"),
    ]
    for language in ("da", "en"):
        for url in pages:
            separator = "&" if "?" in url else "?"
            html = client.get(f"{url}{separator}lang={language}").get_data(as_text=True).lower()
            for word in ("cancel", "annuller", "afmeld", "afbestil"):
                assert word not in html, f"{url} mentions {word!r}"
