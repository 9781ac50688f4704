"""The Danish catalogue covers every UI text, and Danish is what a visitor sees by default.

The catalogue check reads the source tree the way ``make messages`` does, so a new
English text without a Danish translation fails here rather than reaching a Danish
user in English. Babel's extraction takes well under a second for this tree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
DANISH_PO = ROOT / "translations" / "da" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}

# Every %-sequence, including a stray "%" that would break %-formatting at run time.
PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*\d*(?:\.\d+)?[a-zA-Z%]?")


def placeholders(text: str) -> set[str]:
    return {match for match in PERCENT.findall(text) if match != "%%"}


def extracted_messages() -> dict[str | tuple[str, ...], list[str]]:
    """Every msgid in the source tree (plurals as tuples), with where it occurs."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def danish():
    with DANISH_PO.open("rb") as po:
        return read_po(po, locale="da")


@pytest.fixture(scope="module")
def source_messages():
    return extracted_messages()


def test_the_source_tree_has_texts_to_translate(source_messages):
    # Guards the check below: a broken babel.cfg would find nothing and pass silently.
    assert len(source_messages) > 100
    assert "Registration is binding, but you are welcome to send a colleague." in source_messages
    assert any(isinstance(m, tuple) for m in source_messages), "ngettext plurals are extracted"
    assert "Organisation on the invoice" in source_messages, "lazy_gettext (_l) is extracted"


def test_every_ui_text_has_a_danish_translation(danish, source_messages):
    problems = []
    for message_id, places in sorted(source_messages.items(), key=lambda item: str(item[0])):
        key = message_id[0] if isinstance(message_id, tuple) else message_id
        entry = danish.get(key)
        where = places[0]
        if entry is None:
            problems.append(f"{where}: not in messages.po: {key!r}")
            continue
        if entry.fuzzy:
            problems.append(f"{where}: fuzzy: {key!r}")
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if isinstance(message_id, tuple) and len(forms) < danish.num_plurals:
            problems.append(f"{where}: missing plural forms: {key!r}")
        if isinstance(message_id, tuple) != isinstance(entry.id, tuple):
            problems.append(f"{where}: singular/plural mismatch with messages.po: {key!r}")
        if not all(form.strip() for form in forms):
            problems.append(f"{where}: untranslated: {key!r}")
    assert not problems, (
        "Run `make messages` and translate in translations/da/LC_MESSAGES/messages.po:\n"
        + "\n".join(problems)
    )


def test_danish_translations_keep_the_placeholders(danish):
    problems = []
    for entry in danish:
        if not entry.id or not entry.string:
            continue
        if isinstance(entry.id, tuple):
            # Danish has the same two forms as English: singular to singular, plural to plural.
            english = [entry.id[0]] + [entry.id[1]] * (len(entry.string) - 1)
            pairs = list(zip(english, entry.string, strict=True))
        else:
            pairs = [(entry.id, entry.string)]
        for english, translated in pairs:
            if translated and placeholders(english) != placeholders(translated):
                problems.append(
                    f"{english!r}: {sorted(placeholders(english))} "
                    f"but Danish has {sorted(placeholders(translated))}"
                )
    assert not problems, "\n".join(problems)


def test_the_placeholder_check_sees_missing_renamed_and_stray_placeholders():
    assert placeholders("Only %(num)d places left for %(asked)d.") == {"%(num)d", "%(asked)d"}
    assert placeholders("Kun %(num)s pladser") != placeholders("Only %(num)d places")
    assert placeholders("Moms 25 % inkl.") != placeholders("VAT 25 %% incl.")
    assert placeholders("100 %%") == set()


def visible_text(response) -> str:
    # Amounts are joined with no-break spaces; compare them as a reader sees them.
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_event_page_is_danish_by_default_and_english_on_request(client, edition):
    danish_page = visible_text(client.get(f"/e/{edition.slug}"))
    assert "2.575,00 kr. + moms" in danish_page
    assert "3.218,75 kr. inkl. moms" in danish_page
    assert "Tilmeldingen er bindende, men du er velkommen til at sende en kollega." in danish_page
    assert "+ VAT" not in danish_page

    english_page = visible_text(client.get(f"/e/{edition.slug}?lang=en"))
    assert "+ VAT" in english_page
    assert "Registration is binding, but you are welcome to send a colleague." in english_page
    assert "+ moms" not in english_page
