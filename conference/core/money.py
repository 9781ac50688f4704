"""Money is DKK in integer øre. Prices are set without VAT; VAT is computed here.

Nothing in the application multiplies prices by floats: every computation is
integer arithmetic with explicit rounding (half up, as Danish invoices do).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, format_decimal

STANDARD_VAT_PERCENT = 25


def vat_of(net_ore: int, rate_percent: int = STANDARD_VAT_PERCENT) -> int:
    """VAT in øre on a net amount, rounded half up to the øre."""
    if net_ore < 0:
        return -vat_of(-net_ore, rate_percent)
    return (net_ore * rate_percent + 50) // 100


def gross_of(net_ore: int, rate_percent: int = STANDARD_VAT_PERCENT) -> int:
    """Amount including VAT, in øre."""
    return net_ore + vat_of(net_ore, rate_percent)


@dataclass(frozen=True)
class Amounts:
    """Net, VAT and gross of one total; the three always add up."""

    net_ore: int
    vat_ore: int

    @property
    def gross_ore(self) -> int:
        return self.net_ore + self.vat_ore

    @classmethod
    def of_net(cls, net_ore: int, rate_percent: int = STANDARD_VAT_PERCENT) -> Amounts:
        return cls(net_ore=net_ore, vat_ore=vat_of(net_ore, rate_percent))


# Babel's currency formatting is slow and pages show the same few amounts over and over.
@lru_cache(maxsize=4096)
def format_dkk(ore: int, locale: str = "da") -> str:
    """Format øre the local way: ``2.575,00 kr.`` in Danish, ``DKK 2,575.00`` in English."""
    amount = Decimal(ore).scaleb(-2)
    if locale.startswith("da"):
        return format_currency(amount, "DKK", locale="da_DK")
    # en_GB would print "DKK3,218.75"; keep the space a reader expects.
    return "DKK\xa0" + format_decimal(amount, "#,##0.00", locale="en_GB")


def parse_kroner(text: str) -> int:
    """Parse a price typed by an organiser ("2.575,00", "2575", "2575.5") into øre.

    Raises ValueError with a message for anything that is not a plain amount.
    """
    cleaned = text.strip().replace(" ", "").replace("kr.", "").replace("kr", "")
    if not cleaned:
        raise ValueError("empty amount")
    if "," in cleaned:
        # Danish: dots group thousands, the comma separates øre.
        cleaned = cleaned.replace(".", "").replace(",", ".")
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() or (fraction and (not fraction.isdigit() or len(fraction) > 2)):
        raise ValueError(f"not an amount: {text!r}")
    return int(whole) * 100 + int((fraction or "0").ljust(2, "0"))
