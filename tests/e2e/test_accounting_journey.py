"""Accounting takes this month's documents out of the back office, in a real browser:
the ZIP of the period, one invoice's PDF and the ledger for Danish Excel."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import zipfile

from conference.core.db import utcnow
from tests.auth.helpers import PASSWORD, make_staff
from tests.e2e.conftest import end_transaction
from tests.invoicing.accounting_helpers import invoice_at


def _pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


def _download(page, link_name: str) -> tuple[str, bytes]:
    """Click a link that downloads a file: (its suggested name, its bytes)."""
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name, exact=True).click()
    download = info.value
    assert download.failure() is None
    with open(download.path(), "rb") as file:
        return download.suggested_filename, file.read()


def test_accountant_downloads_this_months_documents(live_server, page, edition):
    municipal = invoice_at(edition, utcnow(), 3)  # Aarhus Kommune, EAN
    company = invoice_at(
        edition,
        utcnow(),
        1,
        booker_name="Mette Holm",
        booker_email="mh@netcompany.dk",
        organisation="Netcompany A/S",
        organisation_type="private",
        invoice_organisation="Netcompany A/S",
        invoice_address="Grønningen 17",
        invoice_postcode="1270",
        invoice_city="København K",
        cvr="14814833",
        ean=None,
        personreference=None,
        buyer_order_number=None,
        accounting_cost=None,
    )
    numbers = {municipal.number: municipal.buyer_name, company.number: company.buyer_name}
    company_number, company_total = company.number, company.total_ore
    assert company.buyer_name == "Netcompany A/S" and company_total == 321875
    make_staff("bogholder@example.dk", "accounting")
    end_transaction()

    page.goto(f"{live_server}/staff/login")
    page.fill("input[name=email]", "bogholder@example.dk")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("Log ind")).click()
    page.get_by_role("link", name="Bogholderi", exact=True).click()
    page.wait_for_url(re.compile(r"/staff/accounting/$"))
    page.get_by_role("link", name="Denne måned", exact=True).click()
    page.wait_for_url(re.compile(r"/staff/accounting/documents\?start=\d{4}-\d\d-01&end="))
    assert page.get_by_role("link", name="Denne måned").get_attribute("aria-current") == "true"
    table = page.inner_text("table.documents")
    for number, buyer in numbers.items():
        assert number in table and buyer in table
    assert "2 dokumenter." in page.inner_text(".list-summary")
    # On a 1280-pixel screen every column is in view, and a document number, a date
    # or an amount is never broken over two lines.
    layout = page.evaluate(
        """() => {
            const table = document.querySelector("table.documents");
            const cell = table.querySelector("tbody td.nowrap");
            return {
                table: table.scrollWidth,
                room: table.parentElement.clientWidth,
                numberWraps: getComputedStyle(cell).whiteSpace,
            };
        }"""
    )
    assert layout["table"] <= layout["room"], layout
    assert layout["numberWraps"] == "nowrap", layout

    # The period's files, as one ZIP: a real PDF and the UBL of each invoice.
    name, data = _download(page, "Alle PDF- og UBL-filer (ZIP)")
    assert re.fullmatch(r"documents_\d{4}-\d\d-01_\d{4}-\d\d-\d\d\.zip", name)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        entries = archive.namelist()
        pdfs = [entry for entry in entries if entry.endswith(".pdf")]
        assert len(pdfs) == 2 and len([e for e in entries if e.endswith(".xml")]) == 2
        [company_pdf] = [entry for entry in pdfs if company_number in entry]
        text = _pdf_text(archive.read(company_pdf))
        ubl = archive.read(company_pdf.removesuffix(".pdf") + ".xml")
    assert f"<cbc:ID>{company_number}</cbc:ID>".encode() in ubl
    assert company_number in text and "Netcompany A/S" in text and "Faktura" in text
    assert "Grønningen 17" in text and "14814833" in text and "3.218,75" in text

    # One invoice's PDF from its document page.
    page.get_by_role("link", name=company_number, exact=True).click()
    page.wait_for_url(re.compile(r"/staff/accounting/documents/\d+$"))
    assert f"Faktura {company_number}" in page.inner_text("h1")
    name, data = _download(page, "Hent PDF")
    assert name == f"Faktura-{company_number}.pdf"
    text = _pdf_text(data)
    assert company_number in text and "Netcompany A/S" in text and "Faktura" in text

    # The ledger of the same period, for Danish Excel.
    page.go_back()
    name, data = _download(page, "Bogføringsliste (CSV)")
    assert name.startswith("ledger_") and name.endswith(".csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Nummer", "Type", "Dato", "Køber"]
    assert len(body) == 2
    [row] = [r for r in body if r[0] == company_number]
    record = dict(zip(header, row, strict=True))
    assert record["Køber"] == "Netcompany A/S"
    assert record["CVR-nummer"] == "14814833" and record["EAN-nummer"] == ""
    assert (record["Netto"], record["Moms"], record["I alt"]) == ("2575,00", "643,75", "3218,75")
    assert record["Betalingsform"] == "Faktura" and record["Betalingsdato"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", record["Forfaldsdato"])
