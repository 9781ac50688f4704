"""Accounting screens: invoices and credit notes by period and status, one document
with its payments, marking an invoice paid, the overdue list, the ledger (CSV,
XLSX), the VAT totals and a ZIP of a period's PDFs and UBL files."""

from __future__ import annotations

from datetime import date
from io import BytesIO

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from conference.auth.models import Role
from conference.auth.services import roles_required
from conference.core.db import db
from conference.core.i18n import current_language
from conference.core.money import format_dkk
from conference.events.services import copenhagen_date
from conference.invoicing import accounting, services
from conference.invoicing.accounting import Period, StatusFilter
from conference.invoicing.forms import DocumentFilterForm, MarkPaidForm, PeriodForm
from conference.invoicing.pdf import stored_pdf
from conference.invoicing.services import InvalidPayment
from conference.invoicing.ubl import invoice_ubl

bp = Blueprint("invoicing", __name__, url_prefix="/staff/accounting")

#: Organisers cancel orders and credit invoices, so they may look; only
#: accounting notes payments.
VIEWERS = (Role.ACCOUNTING, Role.ORGANISER)

#: Invoices and ledgers carry buyers' names: keep them out of shared caches.
PRIVATE = {"Cache-Control": "private, no-store"}


def _period(form: PeriodForm, today: date) -> Period:
    """The period a (validated) form asks for; what it leaves out, this month fills in."""
    default = accounting.default_period(today)
    if not form.validate():
        return default
    end = form.end.data or max(default.end, form.start.data or default.start)
    # Only an end date ("everything up to 31 January"): the month it falls in.
    start = form.start.data or min(default.start, end.replace(day=1))
    return Period(start, end)


def _period_args(period: Period, **extra) -> dict:
    return {"start": period.start.isoformat(), "end": period.end.isoformat(), **extra}


def _quick_links(today: date, endpoint: str, current: Period, **extra) -> list[dict]:
    labels = {
        "this_month": _("This month"),
        "last_month": _("Last month"),
        "this_quarter": _("This quarter"),
        "last_quarter": _("Last quarter"),
        "this_year": _("This year"),
        "last_year": _("Last year"),
    }
    return [
        {
            "label": labels[name],
            "url": url_for(endpoint, **_period_args(period, **extra)),
            "current": period == current,
        }
        for name, period in accounting.quick_periods(today).items()
    ]


@bp.get("/")
@roles_required(*VIEWERS)
def index():
    today = copenhagen_date()
    form = PeriodForm(request.args)
    period = _period(form, today)
    return render_template(
        "invoicing/index.html",
        overview=accounting.accounting_overview(today),
        form=form,
        period=period,
        quick_links=_quick_links(today, "invoicing.documents", period),
        today=today,
    )


@bp.get("/documents")
@roles_required(*VIEWERS)
def documents():
    today = copenhagen_date()
    form = DocumentFilterForm(request.args)
    period = _period(form, today)
    status = form.status.data if form.status.data in accounting.STATUS_FILTERS else StatusFilter.ALL
    result = accounting.list_documents(
        period, status, page=request.args.get("page", 1, type=int), today=today
    )
    return render_template(
        "invoicing/documents.html",
        form=form,
        period=period,
        status=status,
        result=result,
        quick_links=_quick_links(
            today,
            "invoicing.documents",
            period,
            status=None if status == StatusFilter.ALL else status,
        ),
        period_args=_period_args(period),
        today=today,
    )


def _render_document(
    document_id: int, form: MarkPaidForm, status: int = 200, error: str | None = None
):
    detail = accounting.document_detail(document_id)
    return (
        render_template(
            "invoicing/document.html", d=detail, doc=detail.document, form=form, error=error
        ),
        status,
    )


def _amount_text(ore: int) -> str:
    """An amount as the form shows it by default: no thousands separator, so it
    reads back the same in either language."""
    whole, fraction = divmod(ore, 100)
    separator = "," if current_language() == "da" else "."
    return f"{whole}{separator}{fraction:02d}"


@bp.get("/documents/<int:document_id>")
@roles_required(*VIEWERS)
def document(document_id: int):
    detail = accounting.document_detail(document_id)
    form = MarkPaidForm(
        paid_on=copenhagen_date(),
        amount=_amount_text(detail.amount_due_ore) if detail.amount_due_ore else "",
    )
    return _render_document(document_id, form)


@bp.post("/documents/<int:document_id>/payments")
@roles_required(Role.ACCOUNTING)
def mark_paid(document_id: int):
    invoice = accounting.get_document(document_id)
    form = MarkPaidForm()
    if not form.validate_on_submit():
        return _render_document(document_id, form, 422)
    try:
        payment = accounting.mark_paid(
            invoice,
            paid_on=form.paid_on.data,
            amount_ore=form.amount_ore,
            actor=current_user.actor,
        )
    except InvalidPayment as error:
        db.session.rollback()
        fields = {"paid_on": form.paid_on, "amount": form.amount}
        if error.field not in fields:
            return _render_document(document_id, form, 422, error=error.message)
        field = fields[error.field]
        field.errors = [*field.errors, error.message]
        return _render_document(document_id, form, 422)
    db.session.commit()
    flash(
        _(
            "Payment of %(amount)s on %(number)s recorded.",
            amount=format_dkk(payment.amount_ore, current_language()),
            number=invoice.number,
        ),
        "success",
    )
    return redirect(url_for("invoicing.document", document_id=document_id))


def _attachment(data: bytes, filename: str, mimetype: str):
    response = send_file(
        BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=filename
    )
    response.headers.update(PRIVATE)
    return response


@bp.get("/documents/<int:document_id>/pdf")
@roles_required(*VIEWERS)
def document_pdf(document_id: int):
    document = accounting.get_document(document_id)
    pdf = stored_pdf(document)
    # A PDF rendered just now is stored for every later download.
    db.session.commit()
    return _attachment(pdf, services.invoice_filename(document, "pdf"), "application/pdf")


@bp.get("/documents/<int:document_id>/ubl")
@roles_required(*VIEWERS)
def document_ubl(document_id: int):
    document = accounting.get_document(document_id)
    return _attachment(
        invoice_ubl(document), services.invoice_filename(document, "xml"), "application/xml"
    )


@bp.get("/overdue")
@roles_required(*VIEWERS)
def overdue():
    today = copenhagen_date()
    result = accounting.overdue_invoices(page=request.args.get("page", 1, type=int), today=today)
    return render_template("invoicing/overdue.html", result=result, today=today)


@bp.get("/vat")
@roles_required(*VIEWERS)
def vat():
    today = copenhagen_date()
    form = PeriodForm(request.args)
    period = _period(form, today)
    return render_template(
        "invoicing/vat.html",
        form=form,
        period=period,
        report=accounting.vat_totals(period),
        quick_links=_quick_links(today, "invoicing.vat", period),
        period_args=_period_args(period),
    )


def _export_period() -> Period:
    return _period(PeriodForm(request.args), copenhagen_date())


@bp.get("/ledger.csv")
@roles_required(*VIEWERS)
def ledger_csv():
    period = _export_period()
    return Response(
        accounting.ledger_csv(period).encode("utf-8"),
        headers={
            "Content-Disposition": f'attachment; filename="ledger_{period.slug}.csv"',
            **PRIVATE,
        },
        content_type="text/csv; charset=utf-8",
    )


@bp.get("/ledger.xlsx")
@roles_required(*VIEWERS)
def ledger_xlsx():
    period = _export_period()
    return _attachment(
        accounting.ledger_xlsx(period),
        f"ledger_{period.slug}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@bp.get("/archive.zip")
@roles_required(*VIEWERS)
def archive():
    period = _export_period()

    def batches():
        for entries in accounting.archive_batches(period):
            # PDFs rendered for this batch are stored, and no transaction (on
            # SQLite: no write lock) stays open while the client reads.
            db.session.commit()
            yield entries

    return Response(
        stream_with_context(accounting.zip_stream(batches())),
        headers={
            "Content-Disposition": f'attachment; filename="documents_{period.slug}.zip"',
            **PRIVATE,
        },
        content_type="application/zip",
    )
