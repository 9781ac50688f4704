"""Invoices and credit notes as Peppol BIS Billing 3.0 (UBL 2.1) for e-invoicing.

Danish public buyers receive invoices through NemHandel/Peppol, addressed to
their EAN location number. The document is built from the issued snapshot
with lxml, so every text a buyer typed is escaped by the serialiser, and every
amount is formatted from integer øre (never a float).

Choices the Peppol and Danish rules leave open, and why:

- Seller endpoint and legal entity: the CVR number with scheme 0184 (DK:DIGST),
  as ``DK-R-014`` demands for the legal entity; VAT number ``DK`` + CVR.
- Buyer endpoint: the EAN number with scheme 0088 (GLN). A company without EAN
  is addressed by its CVR (0184), which is how Danish companies register in
  the Peppol directory. The buyer's VAT number (``DK`` + CVR) is given only for
  companies: a public body's CVR is not necessarily its VAT registration.
- BuyerReference is the personreference; without one, the booker's name (the
  person at the buyer who ordered), so a public buyer can still route the
  invoice (``PEPPOL-EN16931-R003`` asks for a buyer or order reference).
- Bank transfer: code 31 with IBAN and BIC (the issue asks for the IBAN; a
  Danish IBAN contains the registration and account number), or, for a seller
  without IBAN, code 42 with registration and account number (``DK-R-006``);
  the invoice number is the payment id. One document may carry one code only.
- Card-paid invoices: code 48 (bank card), the total as PrepaidAmount and 0
  payable. Credit notes carry no payment means: nothing is to be paid.
"""

from __future__ import annotations

import re
from datetime import date

from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from lxml import etree

from conference.core.i18n import babel_locale
from conference.invoicing.models import Invoice

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

#: Peppol electronic address schemes (EAS) and ICD identifiers.
SCHEME_GLN = "0088"
SCHEME_DK_CVR = "0184"

INVOICE_TYPE_CODE = "380"
CREDIT_NOTE_TYPE_CODE = "381"
#: UN/ECE Rec 20 "each": one conference place.
UNIT_CODE = "EA"

PAYMENT_BANK_ACCOUNT = "42"
PAYMENT_INTERNATIONAL_TRANSFER = "31"
PAYMENT_BANK_CARD = "48"

# XML 1.0 forbids most control characters; a pasted form value may carry one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def invoice_ubl(invoice: Invoice) -> bytes:
    """The document as Peppol BIS Billing 3.0: a UBL Invoice, or CreditNote for a credit note."""
    return _Builder(invoice).build()


def amount_text(ore: int) -> str:
    """Øre as kroner with two decimals, "-12.05" style, by integer arithmetic."""
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner}.{rest:02d}"


def _clean(text: object) -> str:
    return _NOT_XML.sub("", str(text)).strip()


def _tax_category(vat_percent: int) -> str:
    # S: standard rated. Nothing the conference sells is exempt, but a 0 %
    # line would be zero rated (Z), which needs no exemption reason.
    return "S" if vat_percent > 0 else "Z"


class _Builder:
    """Builds one document in the element order the UBL 2.1 schema requires."""

    def __init__(self, invoice: Invoice) -> None:
        self.invoice = invoice
        self.credit_note = invoice.is_credit_note
        self.paid_by_card = invoice.payment_method == "card" and not self.credit_note
        self.seller = invoice.seller or {}

    # -- element helpers -------------------------------------------------------

    def cbc(self, parent, name: str, text: object, **attributes: str):
        element = etree.SubElement(parent, f"{{{CBC}}}{name}", attributes)
        element.text = _clean(text)
        return element

    def cac(self, parent, name: str):
        return etree.SubElement(parent, f"{{{CAC}}}{name}")

    def amount(self, parent, name: str, ore: int):
        return self.cbc(parent, name, amount_text(ore), currencyID=self.invoice.currency)

    @staticmethod
    def day(value: date) -> str:
        return value.isoformat()

    # -- document --------------------------------------------------------------

    def build(self) -> bytes:
        invoice = self.invoice
        root_name = "CreditNote" if self.credit_note else "Invoice"
        namespace = CREDIT_NOTE_NS if self.credit_note else INVOICE_NS
        root = etree.Element(
            f"{{{namespace}}}{root_name}", nsmap={None: namespace, "cac": CAC, "cbc": CBC}
        )

        self.cbc(root, "CustomizationID", CUSTOMIZATION_ID)
        self.cbc(root, "ProfileID", PROFILE_ID)
        self.cbc(root, "ID", invoice.number)
        self.cbc(root, "IssueDate", self.day(invoice.issued_on))
        if self.credit_note:
            self.cbc(root, "CreditNoteTypeCode", CREDIT_NOTE_TYPE_CODE)
        else:
            if invoice.due_on and not self.paid_by_card:
                self.cbc(root, "DueDate", self.day(invoice.due_on))
            self.cbc(root, "InvoiceTypeCode", INVOICE_TYPE_CODE)
        if _clean(invoice.note):
            self.cbc(root, "Note", invoice.note)
        self.cbc(root, "DocumentCurrencyCode", invoice.currency)
        if _clean(invoice.buyer_accounting_cost or ""):
            self.cbc(root, "AccountingCost", invoice.buyer_accounting_cost)
        self.cbc(root, "BuyerReference", self.buyer_reference())
        self.order_reference(root)
        if self.credit_note and invoice.credited_invoice is not None:
            billing = self.cac(self.cac(root, "BillingReference"), "InvoiceDocumentReference")
            self.cbc(billing, "ID", invoice.credited_invoice.number)
            self.cbc(billing, "IssueDate", self.day(invoice.credited_invoice.issued_on))
        self.supplier(root)
        self.customer(root)
        delivery = self.cac(root, "Delivery")
        self.cbc(delivery, "ActualDeliveryDate", self.day(invoice.supplied_on))
        if not self.credit_note:
            self.payment_means(root)
        self.payment_terms(root)
        self.tax_total(root)
        self.monetary_total(root)
        for number, line in enumerate(invoice.lines, start=1):
            self.line(root, number, line)
        body = etree.tostring(root, encoding="UTF-8", pretty_print=True)
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body

    def buyer_reference(self) -> str:
        invoice = self.invoice
        for candidate in (invoice.buyer_reference, invoice.buyer_contact, invoice.our_reference):
            if candidate and _clean(candidate):
                return candidate
        return invoice.number

    def order_reference(self, root) -> None:
        invoice = self.invoice
        order_number = _clean(invoice.buyer_order_number or "")
        if not order_number and not invoice.our_reference:
            return
        reference = self.cac(root, "OrderReference")
        # Peppol: "NA" when only the seller's order reference is known.
        self.cbc(reference, "ID", order_number or "NA")
        if invoice.our_reference:
            self.cbc(reference, "SalesOrderID", invoice.our_reference)

    # -- parties ---------------------------------------------------------------

    def address(self, party, street: str, city: str, postcode: str, country: str) -> None:
        address = self.cac(party, "PostalAddress")
        if _clean(street):
            self.cbc(address, "StreetName", street)
        if _clean(city):
            self.cbc(address, "CityName", city)
        if _clean(postcode):
            self.cbc(address, "PostalZone", postcode)
        self.cbc(self.cac(address, "Country"), "IdentificationCode", country or "DK")

    def vat_scheme(self, party, cvr: str) -> None:
        tax_scheme = self.cac(party, "PartyTaxScheme")
        self.cbc(tax_scheme, "CompanyID", f"DK{cvr}")
        self.cbc(self.cac(tax_scheme, "TaxScheme"), "ID", "VAT")

    def supplier(self, root) -> None:
        seller = self.seller
        cvr = _clean(seller.get("cvr", ""))
        party = self.cac(self.cac(root, "AccountingSupplierParty"), "Party")
        self.cbc(party, "EndpointID", cvr, schemeID=SCHEME_DK_CVR)
        self.cbc(self.cac(party, "PartyName"), "Name", seller.get("name", ""))
        self.address(
            party,
            seller.get("street", ""),
            seller.get("city", ""),
            seller.get("postcode", ""),
            seller.get("country", "DK"),
        )
        self.vat_scheme(party, cvr)
        legal = self.cac(party, "PartyLegalEntity")
        self.cbc(legal, "RegistrationName", seller.get("name", ""))
        self.cbc(legal, "CompanyID", cvr, schemeID=SCHEME_DK_CVR)
        if _clean(seller.get("email", "")):
            contact = self.cac(party, "Contact")
            self.cbc(contact, "ElectronicMail", seller["email"])

    def customer(self, root) -> None:
        invoice = self.invoice
        ean = _clean(invoice.buyer_ean or "")
        cvr = _clean(invoice.buyer_cvr or "")
        party = self.cac(self.cac(root, "AccountingCustomerParty"), "Party")
        if ean:
            self.cbc(party, "EndpointID", ean, schemeID=SCHEME_GLN)
            identification = self.cac(party, "PartyIdentification")
            self.cbc(identification, "ID", ean, schemeID=SCHEME_GLN)
        elif cvr:
            self.cbc(party, "EndpointID", cvr, schemeID=SCHEME_DK_CVR)
        self.cbc(self.cac(party, "PartyName"), "Name", invoice.buyer_name)
        self.address(
            party,
            invoice.buyer_address,
            invoice.buyer_city,
            invoice.buyer_postcode,
            invoice.buyer_country,
        )
        if cvr and not invoice.buyer_is_public:
            self.vat_scheme(party, cvr)
        legal = self.cac(party, "PartyLegalEntity")
        self.cbc(legal, "RegistrationName", invoice.buyer_name)
        if cvr:
            self.cbc(legal, "CompanyID", cvr, schemeID=SCHEME_DK_CVR)
        if _clean(invoice.buyer_contact) or _clean(invoice.buyer_email):
            contact = self.cac(party, "Contact")
            if _clean(invoice.buyer_contact):
                self.cbc(contact, "Name", invoice.buyer_contact)
            if _clean(invoice.buyer_email):
                self.cbc(contact, "ElectronicMail", invoice.buyer_email)

    # -- payment ---------------------------------------------------------------

    def payment_means(self, root) -> None:
        invoice, seller = self.invoice, self.seller
        if self.paid_by_card:
            means = self.cac(root, "PaymentMeans")
            self.cbc(means, "PaymentMeansCode", PAYMENT_BANK_CARD)
            self.cbc(means, "PaymentID", invoice.number)
            return
        # One code per document (UBL-SR-47). A Danish IBAN holds the registration
        # and account number, so it serves domestic payers as well as foreign ones.
        iban, bic = _clean(seller.get("iban", "")).replace(" ", ""), _clean(seller.get("bic", ""))
        reg, account = _clean(seller.get("bank_reg", "")), _clean(seller.get("bank_account", ""))
        if iban and bic:
            code, account, branch = PAYMENT_INTERNATIONAL_TRANSFER, iban, bic
        elif reg and account:
            code, branch = PAYMENT_BANK_ACCOUNT, reg
        else:
            return
        means = self.cac(root, "PaymentMeans")
        self.cbc(means, "PaymentMeansCode", code)
        self.cbc(means, "PaymentID", invoice.number)
        self.financial_account(means, account, branch)

    def financial_account(self, means, account: str, branch: str) -> None:
        financial = self.cac(means, "PayeeFinancialAccount")
        self.cbc(financial, "ID", account)
        if _clean(self.seller.get("name", "")):
            self.cbc(financial, "Name", self.seller["name"])
        self.cbc(self.cac(financial, "FinancialInstitutionBranch"), "ID", branch)

    def payment_terms(self, root) -> None:
        invoice = self.invoice
        with force_locale(babel_locale(invoice.language)):
            if self.credit_note:
                credited = invoice.credited_invoice
                text = _(
                    "Credit note for invoice %(number)s. Nothing is to be paid.",
                    number=credited.number if credited is not None else "",
                )
            elif self.paid_by_card:
                text = _("Paid by card. Nothing more is to be paid.")
            elif invoice.due_on:
                text = _(
                    "Net %(days)d days: pay by %(date)s, quoting the invoice number %(number)s.",
                    days=(invoice.due_on - invoice.issued_on).days,
                    date=format_date(invoice.due_on, "long"),
                    number=invoice.number,
                )
            else:
                return
        self.cbc(self.cac(root, "PaymentTerms"), "Note", text)

    # -- amounts ---------------------------------------------------------------

    def tax_total(self, root) -> None:
        invoice = self.invoice
        total = self.cac(root, "TaxTotal")
        self.amount(total, "TaxAmount", invoice.vat_ore)
        for rate in invoice.vat_breakdown:
            subtotal = self.cac(total, "TaxSubtotal")
            self.amount(subtotal, "TaxableAmount", rate["net_ore"])
            self.amount(subtotal, "TaxAmount", rate["vat_ore"])
            self.tax_category(subtotal, "TaxCategory", rate["vat_percent"])

    def tax_category(self, parent, name: str, vat_percent: int) -> None:
        category = self.cac(parent, name)
        self.cbc(category, "ID", _tax_category(vat_percent))
        self.cbc(category, "Percent", vat_percent)
        self.cbc(self.cac(category, "TaxScheme"), "ID", "VAT")

    def monetary_total(self, root) -> None:
        invoice = self.invoice
        total = self.cac(root, "LegalMonetaryTotal")
        self.amount(total, "LineExtensionAmount", sum(line["net_ore"] for line in invoice.lines))
        self.amount(total, "TaxExclusiveAmount", invoice.net_ore)
        self.amount(total, "TaxInclusiveAmount", invoice.total_ore)
        prepaid = invoice.total_ore if self.paid_by_card else 0
        if prepaid:
            self.amount(total, "PrepaidAmount", prepaid)
        self.amount(total, "PayableAmount", invoice.total_ore - prepaid)

    def line(self, root, number: int, line: dict) -> None:
        name = "CreditNoteLine" if self.credit_note else "InvoiceLine"
        quantity = "CreditedQuantity" if self.credit_note else "InvoicedQuantity"
        element = self.cac(root, name)
        self.cbc(element, "ID", number)
        self.cbc(element, quantity, line["quantity"], unitCode=UNIT_CODE)
        self.amount(element, "LineExtensionAmount", line["net_ore"])
        item = self.cac(element, "Item")
        self.cbc(item, "Name", line["description"])
        self.tax_category(item, "ClassifiedTaxCategory", line["vat_percent"])
        price = self.cac(element, "Price")
        self.amount(price, "PriceAmount", line["unit_net_ore"])
