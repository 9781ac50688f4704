"""Peppol BIS Billing 3.0: every kind of document the app issues passes the official rules."""

from __future__ import annotations

import pytest
from lxml import etree

from conference.invoicing.ubl import amount_text, invoice_ubl
from tests.invoicing.conftest import place_invoiced_order
from tests.invoicing.peppol import assert_valid_peppol, peppol_findings

NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def parsed(xml: bytes):
    return etree.fromstring(xml)


def text(tree, path: str) -> str:
    return tree.findtext(path, namespaces=NS)


@pytest.mark.parametrize(
    "kind",
    [
        "public_invoice",
        "company_invoice",
        "card_invoice",
        "partial_credit_note",
        "full_credit_note",
        "card_credit_note",
    ],
)
def test_every_kind_of_document_passes_all_three_layers(kind, request):
    document = request.getfixturevalue(kind)
    assert_valid_peppol(invoice_ubl(document), f"{kind} {document.number}")


def test_municipal_invoice_is_addressed_to_the_ean_with_the_buyers_references(public_invoice):
    tree = parsed(invoice_ubl(public_invoice))
    assert tree.tag == f"{{{NS['inv']}}}Invoice"
    assert text(tree, "cbc:CustomizationID") == (
        "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
    )
    assert text(tree, "cbc:ProfileID") == "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    assert text(tree, "cbc:ID") == public_invoice.number
    assert text(tree, "cbc:InvoiceTypeCode") == "380"
    assert text(tree, "cbc:DocumentCurrencyCode") == "DKK"
    assert text(tree, "cbc:IssueDate") == public_invoice.issued_on.isoformat()
    assert text(tree, "cbc:DueDate") == public_invoice.due_on.isoformat()
    assert text(tree, "cbc:BuyerReference") == "HJ-4711"
    assert text(tree, "cac:OrderReference/cbc:ID") == "PO-2026-17"
    assert text(tree, "cac:OrderReference/cbc:SalesOrderID") == public_invoice.our_reference
    assert text(tree, "cbc:AccountingCost") == "1234-5678-90"

    buyer = tree.find("cac:AccountingCustomerParty/cac:Party", NS)
    endpoint = buyer.find("cbc:EndpointID", NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0088", "5798000000001")
    legal = buyer.find("cac:PartyLegalEntity/cbc:CompanyID", NS)
    assert (legal.get("schemeID"), legal.text) == ("0184", "55133018")

    seller = tree.find("cac:AccountingSupplierParty/cac:Party", NS)
    cvr = public_invoice.seller["cvr"]
    endpoint = seller.find("cbc:EndpointID", NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0184", cvr)
    assert text(seller, "cac:PartyTaxScheme/cbc:CompanyID") == f"DK{cvr}"
    assert text(seller, "cac:PartyLegalEntity/cbc:CompanyID") == cvr

    assert text(tree, "cac:Delivery/cbc:ActualDeliveryDate") == (
        public_invoice.supplied_on.isoformat()
    )


def test_amounts_are_exact_kroner_and_add_up(public_invoice):
    tree = parsed(invoice_ubl(public_invoice))
    assert text(tree, "cac:TaxTotal/cbc:TaxAmount") == "1931.25"
    subtotal = tree.find("cac:TaxTotal/cac:TaxSubtotal", NS)
    assert text(subtotal, "cbc:TaxableAmount") == "7725.00"
    assert text(subtotal, "cac:TaxCategory/cbc:ID") == "S"
    assert text(subtotal, "cac:TaxCategory/cbc:Percent") == "25"
    totals = tree.find("cac:LegalMonetaryTotal", NS)
    assert text(totals, "cbc:LineExtensionAmount") == "7725.00"
    assert text(totals, "cbc:TaxExclusiveAmount") == "7725.00"
    assert text(totals, "cbc:TaxInclusiveAmount") == "9656.25"
    assert text(totals, "cbc:PayableAmount") == "9656.25"
    assert totals.find("cbc:PrepaidAmount", NS) is None
    line = tree.find("cac:InvoiceLine", NS)
    quantity = line.find("cbc:InvoicedQuantity", NS)
    assert (quantity.text, quantity.get("unitCode")) == ("3", "EA")
    assert text(line, "cac:Price/cbc:PriceAmount") == "2575.00"
    assert text(line, "cbc:LineExtensionAmount") == "7725.00"
    assert text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID") == "S"


def test_amount_text_is_integer_arithmetic():
    assert amount_text(0) == "0.00"
    assert amount_text(5) == "0.05"
    assert amount_text(965_625) == "9656.25"
    assert amount_text(-1_001) == "-10.01"
    assert amount_text(123_456_789_012) == "1234567890.12"


def test_bank_invoice_asks_for_a_transfer_to_the_iban_quoting_the_number(public_invoice):
    tree = parsed(invoice_ubl(public_invoice))
    means = tree.findall("cac:PaymentMeans", NS)
    assert len(means) == 1
    assert text(means[0], "cbc:PaymentMeansCode") == "31"
    assert text(means[0], "cbc:PaymentID") == public_invoice.number
    assert text(means[0], "cac:PayeeFinancialAccount/cbc:ID") == public_invoice.seller["iban"]
    assert (
        text(means[0], "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID")
        == (public_invoice.seller["bic"])
    )
    assert public_invoice.number in text(tree, "cac:PaymentTerms/cbc:Note")


def test_company_without_ean_is_addressed_by_its_cvr_with_its_vat_number(company_invoice):
    tree = parsed(invoice_ubl(company_invoice))
    buyer = tree.find("cac:AccountingCustomerParty/cac:Party", NS)
    endpoint = buyer.find("cbc:EndpointID", NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0184", "14814833")
    assert buyer.find("cac:PartyIdentification", NS) is None
    assert text(buyer, "cac:PartyTaxScheme/cbc:CompanyID") == "DK14814833"
    # No personreference given: the person who ordered routes the invoice.
    assert text(tree, "cbc:BuyerReference") == company_invoice.buyer_contact


def test_card_paid_invoice_shows_it_paid_and_nothing_payable(card_invoice):
    tree = parsed(invoice_ubl(card_invoice))
    assert text(tree, "cac:PaymentMeans/cbc:PaymentMeansCode") == "48"
    assert tree.find("cac:PaymentMeans/cac:PayeeFinancialAccount", NS) is None
    assert tree.find("cbc:DueDate", NS) is None
    totals = tree.find("cac:LegalMonetaryTotal", NS)
    assert text(totals, "cbc:TaxInclusiveAmount") == "6437.50"
    assert text(totals, "cbc:PrepaidAmount") == "6437.50"
    assert text(totals, "cbc:PayableAmount") == "0.00"
    # Neither personreference nor order number: the order reference stands in.
    assert text(tree, "cac:OrderReference/cbc:ID") == "NA"
    assert text(tree, "cac:OrderReference/cbc:SalesOrderID") == card_invoice.our_reference


def test_credit_note_references_the_invoice_it_credits(public_invoice, partial_credit_note):
    tree = parsed(invoice_ubl(partial_credit_note))
    assert tree.tag == f"{{{NS['cn']}}}CreditNote"
    assert text(tree, "cbc:CreditNoteTypeCode") == "381"
    reference = tree.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
    assert text(reference, "cbc:ID") == public_invoice.number
    assert text(reference, "cbc:IssueDate") == public_invoice.issued_on.isoformat()
    line = tree.find("cac:CreditNoteLine", NS)
    assert text(line, "cbc:CreditedQuantity") == "1"
    # Positive amounts: the document type says they are taken back (DK-R-016).
    assert text(tree, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "3218.75"
    assert tree.find("cac:PaymentMeans", NS) is None
    assert tree.find("cbc:DueDate", NS) is None


def test_typed_markup_and_control_characters_stay_text_and_the_document_stays_valid(edition):
    _, invoice = place_invoiced_order(
        edition,
        1,
        invoice_organisation='Aarhus <Kommune> & "Co" </cbc:Name><x/>',
        personreference="HJ\x07 & <ref>",
        accounting_cost="]]> 12&34",
    )
    xml = invoice_ubl(invoice)
    assert b"<x/>" not in xml
    tree = parsed(xml)
    assert text(tree, "cac:AccountingCustomerParty/cac:Party/cac:PartyName/cbc:Name") == (
        'Aarhus <Kommune> & "Co" </cbc:Name><x/>'
    )
    assert text(tree, "cbc:BuyerReference") == "HJ & <ref>"
    assert text(tree, "cbc:AccountingCost") == "]]> 12&34"
    assert_valid_peppol(xml, "escaping")


def test_the_validator_catches_a_broken_total(public_invoice):
    # The check is real: the same document with a wrong VAT total fails.
    xml = invoice_ubl(public_invoice).replace(
        b'<cbc:TaxAmount currencyID="DKK">1931.25</cbc:TaxAmount>\n    <cac:TaxSubtotal>',
        b'<cbc:TaxAmount currencyID="DKK">1931.24</cbc:TaxAmount>\n    <cac:TaxSubtotal>',
    )
    report = peppol_findings(xml, "broken")
    assert report["result"] == "FAIL"
    assert "BR-CO-14" in {message["rule"] for message in report["messages"]}
