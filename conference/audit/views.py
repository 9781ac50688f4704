"""The audit log screen and its CSV export, for organisers."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from conference.audit import services
from conference.audit.forms import AuditSearchForm
from conference.auth.models import Role
from conference.auth.services import roles_required

bp = Blueprint("audit", __name__, url_prefix="/staff")


def _search_form() -> AuditSearchForm:
    form = AuditSearchForm(request.args)
    form.fill_choices(
        services.actor_choices(), services.action_choices(), services.object_type_choices()
    )
    form.validate()
    return form


@bp.get("/audit")
@roles_required(Role.ORGANISER)
def index():
    form = _search_form()
    page = request.args.get("page", 1, type=int)
    result = services.search_audit(form.search(), page=page)
    # The search in the links to other pages and to the CSV, without an empty field.
    args = {key: value for key, value in request.args.items() if value and key != "page"}
    return render_template(
        "audit/index.html",
        form=form,
        result=result,
        args=args,
        format_value=services.format_value,
    )


@bp.get("/audit.csv")
@roles_required(Role.ORGANISER)
def export_csv():
    form = _search_form()
    body = services.audit_csv(form.search())
    return Response(
        body.encode("utf-8"),
        headers={
            "Content-Disposition": 'attachment; filename="audit-log.csv"',
            "Cache-Control": "no-store",
        },
        content_type="text/csv; charset=utf-8",
    )
