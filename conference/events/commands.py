"""``flask --app wsgi demo load``: a demo edition that looks like the real event."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from conference.core.db import db
from conference.events.models import Edition, Quota, TicketType

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
                access_code="TALER2027",
                sort_order=2,
            ),
            TicketType(
                name="Presse",
                name_en="Press",
                price_net_ore=0,
                quota=quota,
                is_public=False,
                access_code="PRESSE",
                sort_order=3,
            ),
        ]
    )
    db.session.add(edition)
    db.session.flush()
    return edition


@demo_cli.command("load")
@click.option("--year", type=int, default=None, help="Year of the edition (default: next April).")
@click.option("--capacity", type=int, default=600, show_default=True)
@with_appcontext
def load_demo(year: int | None, capacity: int) -> None:
    """Create the demo edition unless it exists."""
    today = date.today()
    year = year or (today.year + 1 if today >= _first_monday_of_april(today.year) else today.year)
    slug = f"digitaliseringstraef-{year}"
    if db.session.scalar(select(Edition).where(Edition.slug == slug)) is not None:
        click.echo(f"Demo edition {slug} already exists.")
        return
    create_demo_edition(year, capacity, slug)
    db.session.commit()
    click.echo(f"Created demo edition {slug} with {capacity} places.")
