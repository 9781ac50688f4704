"""``flask --app wsgi demo load``: a demo edition that looks like the real event."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from conference.core.db import db, utcnow
from conference.events.models import AccessCode, Edition, Quota, TicketType
from conference.events.services import copenhagen_date

COPENHAGEN = ZoneInfo("Europe/Copenhagen")

demo_cli = click.Group("demo", help="Demo data for trying the system locally.")


def _utc(local: datetime) -> datetime:
    """Copenhagen wall-clock time to naive UTC, as stored."""
    return local.replace(tzinfo=COPENHAGEN).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _first_monday_of_april(year: int) -> date:
    day = date(year, 4, 1)
    return day + timedelta(days=(7 - day.weekday()) % 7)


DEMO_PROGRAMME_DA = """08:30 Registrering, kaffe og morgenbrød i udstillingen
09:30 Velkomst ved KL's direktør
09:45 Keynote: Kunstig intelligens i den kommunale opgaveløsning – hvad virker, og hvad er hype?
10:45 Pause i udstillingen
11:15 Sessioner i fire spor: borgerservice, data, cybersikkerhed, digital velfærd
12:30 Frokost og netværk
13:30 Sessioner i fire spor
14:45 Kaffe i udstillingen
15:15 Paneldebat: Den fælleskommunale digitaliseringsstrategi 2026-2030
16:15 Tak for i dag og netværk"""

DEMO_PROGRAMME_EN = """08:30 Registration, coffee and breakfast in the exhibition
09:30 Welcome by the director of KL
09:45 Keynote: Artificial intelligence in municipal services – what works and what is hype?
10:45 Break in the exhibition
11:15 Sessions in four tracks: citizen services, data, cyber security, digital welfare
12:30 Lunch and networking
13:30 Sessions in four tracks
14:45 Coffee in the exhibition
15:15 Panel: the joint municipal digitalisation strategy 2026-2030
16:15 Closing and networking"""


def create_demo_edition(year: int, capacity: int = 600, slug: str | None = None) -> Edition:
    """Create a demo edition on the first Monday of April of ``year``."""
    day = _first_monday_of_april(year)
    slug = slug or f"digitaliseringstraef-{year}"
    edition = Edition(
        slug=slug,
        name=f"Kommunernes Digitaliseringstræf {year}",
        name_en=f"Municipal Digitalisation Conference {year}",
        starts_at=_utc(datetime.combine(day, datetime.min.time()).replace(hour=8, minute=30)),
        ends_at=_utc(datetime.combine(day, datetime.min.time()).replace(hour=16, minute=30)),
        venue_name="Scandic Falconer",
        venue_address="Falkoner Allé 9, 2000 Frederiksberg",
        description=(
            "Digitaliseringstræffet samler direktører, chefer og medarbejdere fra landets "
            "kommuner til en dag om digitalisering, data og ny teknologi i den kommunale "
            "opgaveløsning. Mød kolleger fra hele landet og IT-leverandørerne i udstillingen."
        ),
        description_en=(
            "The conference brings together directors, managers and staff from Denmark's "
            "municipalities for a day on digitalisation, data and new technology in "
            "municipal services. Meet colleagues from all over the country and the IT "
            "vendors in the exhibition."
        ),
        programme=DEMO_PROGRAMME_DA,
        programme_en=DEMO_PROGRAMME_EN,
        contact_name="Mette Kristensen",
        contact_email="konferencer@example.dk",
        contact_phone="+45 33 70 30 00",
        questions_email="digitaliseringstraef@example.dk",
        registration_opens_at=_utc(datetime(year - 1, 11, 1, 9, 0)),
        registration_closes_at=_utc(
            datetime.combine(day - timedelta(days=14), datetime.min.time()).replace(
                hour=23, minute=59
            )
        ),
        transfer_deadline=_utc(
            datetime.combine(day - timedelta(days=2), datetime.min.time()).replace(hour=12)
        ),
        seller_name="Kommunernes Konferencer A/S",
        seller_address="Weidekampsgade 10, 2300 København S",
        seller_cvr="13585628",
        seller_email="faktura@example.dk",
        seller_bank_reg="1234",
        seller_bank_account="0001234567",
        seller_iban="DK5000400440116243",
        seller_bic="DABADKKK",
    )
    quota = Quota(name="Pladser", capacity=capacity, taken=0)
    edition.quotas.append(quota)
    edition.ticket_types.extend(
        [
            TicketType(
                name="Deltager",
                name_en="Participant",
                price_net_ore=257_500,
                quota=quota,
                sort_order=1,
            ),
            TicketType(
                name="Oplægsholder",
                name_en="Speaker",
                price_net_ore=0,
                quota=quota,
                is_public=False,
                sort_order=2,
            ),
            TicketType(
                name="Presse",
                name_en="Press",
                price_net_ore=0,
                quota=quota,
                is_public=False,
                sort_order=3,
            ),
        ]
    )
    speaker, press = edition.ticket_types[1], edition.ticket_types[2]
    speaker.access_codes.append(
        AccessCode(edition=edition, code="TALER2027", price_net_ore=0, max_uses=100)
    )
    press.access_codes.append(
        AccessCode(edition=edition, code="PRESSE", price_net_ore=0, max_uses=100)
    )
    db.session.add(edition)
    db.session.flush()
    return edition


DEMO_TERMS_DA = "\n".join(
    (
        "1. Bookingen er bindende, når den er bekræftet. Standen faktureres ved bookingen; "
        "betaling 30 dage netto.",
        "2. Standen kan bygges op dagen før kl. 16-20 og skal være ryddet senest kl. 18 "
        "på konferencedagen.",
        "3. Standpersonalet skal navngives senest en uge før konferencen; hver person får "
        "et udstillerpas med QR-kode.",
        "4. Udstilleren bruger kun sin egen stand og holder gangarealerne frie.",
        "5. Ved afbestilling senere end 60 dage før konferencen refunderes intet.",
        "6. Arrangøren kan flytte en udstiller til en tilsvarende stand, hvis hallens "
        "indretning kræver det.",
    )
)

DEMO_TERMS_EN = "\n".join(
    (
        "1. The booking is binding once confirmed. The stand is invoiced at booking; "
        "payment 30 days net.",
        "2. The stand can be built the day before from 16:00 to 20:00 and must be cleared "
        "by 18:00 on the day.",
        "3. The stand staff must be named at the latest one week before the conference; "
        "each person gets an exhibitor pass with a QR code.",
        "4. The exhibitor uses only its own stand and keeps the aisles free.",
        "5. Cancellation later than 60 days before the conference is not refunded.",
        "6. The organiser may move an exhibitor to an equivalent stand if the hall's "
        "layout requires it.",
    )
)

#: The hall's stands: (code, x, y, width, depth) in cm, and the package's key. A wall row
#: (A) along the back, an island of two back-to-back rows (B facing the back, C facing
#: the entrance) with corner stands at its ends, and a front row (D) on both sides of the
#: entrance, with aisles of 3 m between them.
DEMO_STANDS = [
    ("A1", 0, 0, 400, 300, "corner"),
    ("A2", 400, 0, 300, 300, "standard"),
    ("A3", 700, 0, 300, 300, "standard"),
    ("A4", 1000, 0, 300, 300, "standard"),
    ("A5", 1300, 0, 300, 300, "standard"),
    ("A6", 1600, 0, 300, 300, "standard"),
    ("A7", 1900, 0, 400, 300, "corner"),
    ("B1", 400, 600, 400, 300, "corner"),
    ("B2", 800, 600, 300, 300, "standard"),
    ("B3", 1100, 600, 300, 300, "standard"),
    ("B4", 1400, 600, 300, 300, "standard"),
    ("B5", 1700, 600, 400, 300, "corner"),
    ("C1", 400, 900, 400, 300, "corner"),
    ("C2", 800, 900, 600, 300, "large"),
    ("C3", 1400, 900, 300, 300, "standard"),
    ("C4", 1700, 900, 400, 300, "corner"),
    ("D1", 0, 1500, 600, 300, "large"),
    ("D2", 600, 1500, 300, 300, "standard"),
    ("D3", 1600, 1500, 300, 300, "standard"),
    ("D4", 1900, 1500, 400, 300, "corner"),
]

#: Demo exhibitors: the stand, the company, and the stand staff they have named.
DEMO_EXHIBITORS = [
    {
        "stand": "A1",
        "company": "Nordlys Software A/S",
        "cvr": "31415926",
        "address": "Havnegade 12",
        "postcode": "5000",
        "city": "Odense C",
        "contact_name": "Line Nørgaard",
        "contact_email": "line.norgaard@nordlys.example.dk",
        "contact_phone": "+45 66 12 34 56",
        "invoice_email": "faktura@nordlys.example.dk",
        "buyer_order_number": "IND-2207",
        "addons": {"extra_pass": 1, "power": 1},
        "description": "Sagsbehandling og borgerservice i skyen for kommuner.",
        "staff": [
            ("Line Nørgaard", "line.norgaard@nordlys.example.dk", "Salgsdirektør"),
            ("Jonas Bech", "jonas.bech@nordlys.example.dk", "Løsningsarkitekt"),
            ("Sara Øster", "sara.oster@nordlys.example.dk", "Kundeansvarlig"),
        ],
    },
    {
        "stand": "B3",
        "company": "Fjordsky IT ApS",
        "cvr": "16180335",
        "address": "Søndergade 4",
        "postcode": "8000",
        "city": "Aarhus C",
        "contact_name": "Peter Kjær",
        "contact_email": "pk@fjordsky.example.dk",
        "contact_phone": "+45 86 00 11 22",
        "invoice_email": "bogholderi@fjordsky.example.dk",
        "addons": {"furniture": 1},
        "description": "Drift og hosting af fagsystemer i danske datacentre.",
        "staff": [
            ("Peter Kjær", "pk@fjordsky.example.dk", "Direktør"),
            ("Amalie Friis", "af@fjordsky.example.dk", "Driftschef"),
        ],
    },
    {
        "stand": "C2",
        "company": "Borgerdata A/S",
        "cvr": "14142134",
        "address": "Vesterbrogade 96",
        "postcode": "1620",
        "city": "København V",
        "contact_name": "Henrik Lund",
        "contact_email": "henrik.lund@borgerdata.example.dk",
        "contact_phone": "+45 33 44 55 66",
        "invoice_email": "kreditor@borgerdata.example.dk",
        "personreference": "HL-2027",
        "addons": {"power": 2, "furniture": 2},
        "description": "Data og analyse til velfærdsområderne.",
        "staff": [
            ("Henrik Lund", "henrik.lund@borgerdata.example.dk", "Partner"),
            ("Maja Holst", "maja.holst@borgerdata.example.dk", "Dataanalytiker"),
            ("Kasper Dahl", "kasper.dahl@borgerdata.example.dk", "Konsulent"),
        ],
    },
    {
        "stand": "D2",
        "company": "Sikkerhedsgruppen ApS",
        "cvr": "17320505",
        "address": "Algade 3",
        "postcode": "9000",
        "city": "Aalborg",
        "contact_name": "Rikke Vang",
        "contact_email": "rv@sikkerhedsgruppen.example.dk",
        "contact_phone": "+45 98 10 20 30",
        "invoice_email": "faktura@sikkerhedsgruppen.example.dk",
        "language": "en",
        "addons": {},
        "description": "Cyber security for the public sector.",
        "staff": [("Rikke Vang", "rv@sikkerhedsgruppen.example.dk", "CISO")],
    },
]


def create_demo_hall(edition: Edition) -> None:
    """The exhibition of a demo edition: a hall of 20 stands, three packages, add-ons,
    binding bookings with terms in Danish and English, a staff deadline a week before
    the event, and four stands booked by demo companies with named staff.

    Bookings go through the stands services, so they are invoiced (with the
    invoice e-mails in the outbox) exactly as a real booking is.
    """
    from conference.stands.models import AddonKind, BookingMode, Stand, StandAddon, StandHall
    from conference.stands.models import StandPackage as Package
    from conference.stands.services import (
        StaffDetails,
        StandBookingDetails,
        book_stand,
        name_staff,
    )

    starts = edition.starts_at
    db.session.add(
        StandHall(
            edition_id=edition.id,
            name="Udstillingen i Falconer Salen",
            width_cm=2300,
            depth_cm=1800,
            booking_mode=BookingMode.BINDING,
            terms=DEMO_TERMS_DA,
            terms_en=DEMO_TERMS_EN,
            # A week before the doors open, at midnight Copenhagen time.
            staff_deadline=_utc(
                datetime.combine(
                    _first_monday_of_april(starts.year) - timedelta(days=7), datetime.min.time()
                )
            ),
            bookings_open=True,
        )
    )
    packages = {
        "standard": Package(
            edition_id=edition.id,
            name="Standard",
            name_en="Standard",
            price_net_ore=1_850_000,
            included_passes=2,
            includes="Strøm 230 V, 10 A\nBord og to stole\nSkilt med firmanavn\nTrådløst net",
            includes_en="Power 230 V, 10 A\nA table and two chairs\nName sign\nWi-Fi",
            sort_order=1,
        ),
        "corner": Package(
            edition_id=edition.id,
            name="Hjørnestand",
            name_en="Corner stand",
            price_net_ore=2_450_000,
            included_passes=3,
            includes=(
                "Åben mod to gange\nStrøm 230 V, 10 A\nBord og tre stole\n"
                "Skilt med firmanavn\nTrådløst net"
            ),
            includes_en=(
                "Open to two aisles\nPower 230 V, 10 A\nA table and three chairs\nName sign\nWi-Fi"
            ),
            sort_order=2,
        ),
        "large": Package(
            edition_id=edition.id,
            name="Stor stand",
            name_en="Large stand",
            price_net_ore=3_600_000,
            included_passes=4,
            includes=(
                'Strøm 230 V, 16 A\nTo borde og seks stole\nSkærm 55" på fod\n'
                "Skilt med firmanavn\nTrådløst net"
            ),
            includes_en=(
                'Power 230 V, 16 A\nTwo tables and six chairs\n55" screen on a stand\n'
                "Name sign\nWi-Fi"
            ),
            sort_order=3,
        ),
    }
    addons = {
        "extra_pass": StandAddon(
            edition_id=edition.id,
            kind=AddonKind.EXTRA_PASS,
            name="Ekstra udstillerpas",
            name_en="Extra exhibitor pass",
            price_net_ore=195_000,
            max_quantity=6,
            sort_order=1,
        ),
        "power": StandAddon(
            edition_id=edition.id,
            kind=AddonKind.POWER,
            name="Ekstra strøm 16 A",
            name_en="Extra power 16 A",
            price_net_ore=85_000,
            max_quantity=2,
            sort_order=2,
        ),
        "furniture": StandAddon(
            edition_id=edition.id,
            kind=AddonKind.FURNITURE,
            name="Højbord med to barstole",
            name_en="High table with two bar stools",
            price_net_ore=120_000,
            max_quantity=4,
            sort_order=3,
        ),
    }
    db.session.add_all([*packages.values(), *addons.values()])
    db.session.flush()
    stands = {}
    for code, x, y, width, depth, package in DEMO_STANDS:
        stands[code] = Stand(
            edition_id=edition.id,
            code=code,
            x_cm=x,
            y_cm=y,
            width_cm=width,
            depth_cm=depth,
            package_id=packages[package].id,
        )
    stands["A1"].note = "Ved indgangen til salen"
    db.session.add_all(stands.values())
    db.session.flush()

    for exhibitor in DEMO_EXHIBITORS:
        details = StandBookingDetails(
            company=exhibitor["company"],
            cvr=exhibitor["cvr"],
            address=exhibitor["address"],
            postcode=exhibitor["postcode"],
            city=exhibitor["city"],
            contact_name=exhibitor["contact_name"],
            contact_email=exhibitor["contact_email"],
            contact_phone=exhibitor["contact_phone"],
            invoice_email=exhibitor["invoice_email"],
            personreference=exhibitor.get("personreference"),
            buyer_order_number=exhibitor.get("buyer_order_number"),
            addons={addons[key].id: quantity for key, quantity in exhibitor["addons"].items()},
            terms_accepted=True,
            language=exhibitor.get("language", "da"),
        )
        booked = book_stand(edition, stands[exhibitor["stand"]], details, actor="demo")
        booked.booking.description = exhibitor["description"]
        for name, email, job_title in exhibitor["staff"]:
            name_staff(
                booked.booking,
                StaffDetails(name=name, email=email, job_title=job_title),
                actor="demo",
            )
    db.session.flush()


#: Demo registrations: municipalities, a region, a state agency and a company, one
#: booker in English, and a speaker on the speakers' access code (a free place).
#: "placed": (days, hours) before the demo is loaded, oldest first, so that the
#: dashboard's registrations per day and the invoice numbers follow the calendar.
DEMO_REGISTRATIONS = [
    {
        "placed": (26, 3),
        "organisation": "Aarhus Kommune",
        "organisation_type": "municipality",
        "booker": ("Hanne Jensen", "hanne.jensen@aarhus.example.dk", "+45 87 05 00 00"),
        "invoice": ("Aarhus Kommune, Digitalisering", "Rådhuspladsen 2", "8000", "Aarhus C"),
        "ean": "5798000123458",
        "personreference": "HJ-4711",
        "buyer_order_number": "PO-2027-017",
        "attendees": [
            ("Hanne Jensen", "hanne.jensen@aarhus.example.dk", "Digitaliseringschef", ""),
            ("Mikkel Thomsen", "mikkel.thomsen@aarhus.example.dk", "Dataanalytiker", "Vegetar"),
            ("Fatima Ali", "fatima.ali@aarhus.example.dk", "Projektleder", ""),
        ],
    },
    {
        "placed": (19, 6),
        "organisation": "Odense Kommune",
        "organisation_type": "municipality",
        "booker": ("Jens Mortensen", "jens.mortensen@odense.example.dk", "+45 66 13 13 72"),
        "invoice": ("Odense Kommune, Borgerservice", "Flakhaven 2", "5000", "Odense C"),
        "ean": "5798000234567",
        "personreference": "JMO",
        "attendees": [
            ("Jens Mortensen", "jens.mortensen@odense.example.dk", "Afdelingsleder", ""),
            ("Ida Skov", "ida.skov@odense.example.dk", "Digital koordinator", "Glutenfri"),
        ],
    },
    {
        "placed": (12, 1),
        "organisation": "Region Syddanmark",
        "organisation_type": "region",
        "booker": ("Emma Clarke", "emma.clarke@rsyd.example.dk", "+45 76 63 10 00"),
        "invoice": ("Region Syddanmark, IT", "Damhaven 12", "7100", "Vejle"),
        "ean": "5798000345676",
        "personreference": "EC-IT",
        "language": "en",
        "attendees": [
            ("Emma Clarke", "emma.clarke@rsyd.example.dk", "Head of Digital Health", ""),
            ("Thomas Vinther", "thomas.vinther@rsyd.example.dk", "Enterprise architect", ""),
        ],
    },
    {
        "placed": (8, 4),
        "organisation": "Digitaliseringsstyrelsen",
        "organisation_type": "state",
        "booker": ("Karen Holm", "karen.holm@digst.example.dk", "+45 33 92 52 00"),
        "invoice": ("Digitaliseringsstyrelsen", "Landgreven 4", "1301", "København K"),
        "ean": "5798000456785",
        "personreference": "KHO",
        "buyer_order_number": "2027-0042",
        "attendees": [
            ("Karen Holm", "karen.holm@digst.example.dk", "Kontorchef", ""),
        ],
    },
    {
        "placed": (3, 2),
        "organisation": "Kommunedata Rådgivning ApS",
        "organisation_type": "private",
        "booker": ("Ole Brandt", "ole.brandt@kdr.example.dk", "+45 70 20 30 40"),
        "invoice": ("Kommunedata Rådgivning ApS", "Bredgade 30", "1260", "København K"),
        "cvr": "29180008",
        "attendees": [
            ("Ole Brandt", "ole.brandt@kdr.example.dk", "Partner", ""),
        ],
    },
    {
        "placed": (1, 5),
        "organisation": "Vejle Kommune",
        "organisation_type": "municipality",
        "booker": ("Lone Kirk", "lone.kirk@vejle.example.dk", "+45 76 81 00 00"),
        "invoice": ("Vejle Kommune", "Skolegade 1", "7100", "Vejle"),
        "ean": "5798000567894",
        "speaker": True,
        "attendees": [
            ("Lone Kirk", "lone.kirk@vejle.example.dk", "Digitaliseringsdirektør", ""),
        ],
    },
]


def create_demo_registrations(edition: Edition) -> int:
    """Register the demo bookers' groups; returns the number of places taken.

    Through ``place_order``, as staff registering on someone's behalf (the demo
    may be of a year whose registration is not open yet), so each order is
    confirmed, invoiced and has its e-mails in the outbox exactly as a real one.
    """
    from conference.registration.services import AttendeeDetails, BookingDetails, place_order

    participant, speaker = edition.ticket_types[0], edition.ticket_types[1]
    taken = 0
    for registration in DEMO_REGISTRATIONS:
        booker_name, booker_email, booker_phone = registration["booker"]
        organisation, address, postcode, city = registration["invoice"]
        # A speaker registers with the speakers' access code, as the form asks.
        code = speaker.access_codes[0].code if registration.get("speaker") else None
        details = BookingDetails(
            ticket_type_id=(speaker if code else participant).id,
            booker_name=booker_name,
            booker_email=booker_email,
            booker_phone=booker_phone,
            organisation=registration["organisation"],
            organisation_type=registration["organisation_type"],
            invoice_organisation=organisation,
            invoice_address=address,
            invoice_postcode=postcode,
            invoice_city=city,
            attendees=[
                AttendeeDetails(name=name, email=email, job_title=job_title, dietary=dietary)
                for name, email, job_title, dietary in registration["attendees"]
            ],
            cvr=registration.get("cvr"),
            ean=registration.get("ean"),
            personreference=registration.get("personreference"),
            buyer_order_number=registration.get("buyer_order_number"),
            access_code=code,
            language=registration.get("language", "da"),
        )
        days, hours = registration["placed"]
        placed = place_order(
            edition,
            details,
            actor="demo",
            any_time=True,
            now=_demo_booking_time(edition, timedelta(days=days, hours=hours)),
        )
        taken += len(placed.order.attendees)
    db.session.flush()
    return taken


def _demo_booking_time(edition: Edition, ago: timedelta) -> datetime:
    """``ago`` before now, but not before registration opened (if it has)."""
    now = utcnow()
    opened = edition.registration_opens_at
    return max(now - ago, opened) if opened <= now else now - ago


@demo_cli.command("load")
@click.option("--year", type=int, default=None, help="Year of the edition (default: next April).")
@click.option("--capacity", type=int, default=600, show_default=True)
@with_appcontext
def load_demo(year: int | None, capacity: int) -> None:
    """Create the demo edition unless it exists."""
    # The organiser's calendar day, not the server's (UTC) one.
    today = copenhagen_date()
    year = year or (today.year + 1 if today >= _first_monday_of_april(today.year) else today.year)
    slug = f"digitaliseringstraef-{year}"
    if db.session.scalar(select(Edition).where(Edition.slug == slug)) is not None:
        click.echo(f"Demo edition {slug} already exists.")
        return
    edition = create_demo_edition(year, capacity, slug)
    create_demo_hall(edition)
    places = create_demo_registrations(edition)
    db.session.commit()
    click.echo(
        f"Created demo edition {slug} with {capacity} places ({places} taken by "
        f"{len(DEMO_REGISTRATIONS)} registrations) and an exhibition of "
        f"{len(DEMO_STANDS)} stands ({len(DEMO_EXHIBITORS)} booked)."
    )
