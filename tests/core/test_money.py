"""Money in øre: VAT and Danish formatting."""

from __future__ import annotations

import pytest

from conference.core.money import Amounts, format_dkk, gross_of, parse_kroner, vat_of


def test_reference_price_with_vat():
    assert gross_of(257_500) == 321_875
    assert format_dkk(257_500, "da") == "2.575,00\xa0kr."
    assert format_dkk(321_875, "da") == "3.218,75\xa0kr."
    assert format_dkk(321_875, "en") == "DKK\xa03,218.75"
    assert format_dkk(-5, "da") == "-0,05\xa0kr."


@pytest.mark.parametrize(
    ("net", "vat"), [(1, 0), (2, 1), (3, 1), (10, 3), (257_500, 64_375), (-10, -3)]
)
def test_vat_rounds_half_up_to_the_ore(net, vat):
    assert vat_of(net) == vat


def test_amounts_add_up():
    amounts = Amounts.of_net(3 * 257_500)
    assert amounts.gross_ore == amounts.net_ore + amounts.vat_ore == 965_625


@pytest.mark.parametrize(
    ("text", "ore"),
    [
        ("2.575,00", 257_500),
        ("2575", 257_500),
        ("2575.5", 257_550),
        ("0,05", 5),
        ("1 000 kr.", 100_000),
    ],
)
def test_parse_kroner(text, ore):
    assert parse_kroner(text) == ore


@pytest.mark.parametrize("text", ["", "abc", "1,234", "12.3.4", "-5"])
def test_parse_kroner_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_kroner(text)
