"""The development mail viewer: read the outbox in the browser, no SMTP server needed.

Only when ``MAIL_VIEWER`` is on (the development settings); otherwise every
route answers 404, as if it did not exist.
"""

from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, render_template, send_file

from conference.core.db import db
from conference.mail import services

bp = Blueprint("mail", __name__, url_prefix="/_outbox")

#: The mail's HTML runs in an opaque origin with no scripts, forms or remote
#: loads; only its inline styles and data: images are allowed, and only this
#: site may frame it.
MAIL_HTML_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)


@bp.before_request
def only_when_enabled():
    if not current_app.config.get("MAIL_VIEWER"):
        abort(404)


@bp.get("")
def outbox():
    return render_template("mail/viewer/outbox.html", messages=services.recent_messages())


@bp.get("/<int:message_id>")
def message(message_id: int):
    return render_template("mail/viewer/message.html", message=services.get_message(message_id))


@bp.get("/<int:message_id>/html")
def message_html(message_id: int):
    message = services.get_message(message_id)
    if not message.body_html:
        abort(404)
    response = current_app.response_class(message.body_html, mimetype="text/html")
    # Set here, so the site-wide defaults (frame-ancestors 'none', DENY) do not apply.
    response.headers["Content-Security-Policy"] = MAIL_HTML_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get("/<int:message_id>/attachments/<int:index>")
def attachment(message_id: int, index: int):
    message = services.get_message(message_id)
    attachments = message.attachments or []
    if not 0 <= index < len(attachments):
        abort(404)
    item = attachments[index]
    data = services.attachment_data(item)
    db.session.commit()  # keeps a PDF rendered just now
    return send_file(
        io.BytesIO(data),
        mimetype=item["content_type"],
        as_attachment=True,
        download_name=services.attachment_filename(item),
    )


@bp.get("/<int:message_id>/eml")
def message_eml(message_id: int):
    """The message exactly as the worker would send it, to open in a mail program."""
    message = services.get_message(message_id)
    return send_file(
        io.BytesIO(services.build_email(message).as_bytes()),
        mimetype="message/rfc822",
        as_attachment=True,
        download_name=f"outbox-{message.id}.eml",
    )
