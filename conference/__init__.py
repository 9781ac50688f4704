"""Registration system for a Danish municipal digitalisation conference."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template
from flask_login import LoginManager
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

from conference.core.db import (
    db,
    end_read_only_transactions_with_commit,
    normalise_database_url,
    replace_connections_the_server_closed,
)
from conference.core.i18n import init_i18n
from conference.core.security import init_security
from config import ConfigurationError, config_for

ROOT = Path(__file__).resolve().parent.parent

migrate = Migrate()
login_manager = LoginManager()


def create_app(config_name: str | None = None, overrides: dict | None = None) -> Flask:
    """The app factory: settings, extensions, blueprints, commands."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object(config_for(config_name))
    if overrides:
        app.config.update(overrides)
    if app.config.get("ENV_NAME") == "production" and app.debug:
        # The debugger runs any code typed into an error page: never in production,
        # however debug was turned on (FLASK_DEBUG is refused by the settings too).
        raise ConfigurationError("Production refuses to run in debug mode")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    db.init_app(app)
    end_read_only_transactions_with_commit(app)
    if app.config["DATABASE_REPLACE_CLOSED_CONNECTIONS"]:
        with app.app_context():
            replace_connections_the_server_closed(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    init_i18n(app)
    init_security(app)
    _init_login(app)
    _register_models()
    _register_blueprints(app)
    _register_commands(app)
    _register_error_pages(app)
    _register_template_helpers(app)
    _init_payments(app)
    return app


def _init_payments(app: Flask) -> None:
    from conference.payments.services import init_payments

    init_payments(app)


def _register_models() -> None:
    # Import every area's models so Alembic and relationships see all tables.
    from conference.auth import models as _auth  # noqa: F401
    from conference.communication import models as _communication  # noqa: F401
    from conference.core import models as _core  # noqa: F401
    from conference.events import models as _events  # noqa: F401
    from conference.invoicing import models as _invoicing  # noqa: F401
    from conference.mail import models as _mail  # noqa: F401
    from conference.payments import models as _payments  # noqa: F401
    from conference.privacy import models as _privacy  # noqa: F401
    from conference.registration import models as _registration  # noqa: F401
    from conference.stands import models as _stands  # noqa: F401
    from conference.transfers import models as _transfers  # noqa: F401


def _init_login(app: Flask) -> None:
    from conference.auth.models import StaffUser

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(session_key: str):
        # "<id>.<fingerprint>" (StaffUser.session_key): a changed password ends the session.
        user_id = session_key.partition(".")[0]
        user = db.session.get(StaffUser, int(user_id)) if user_id.isdigit() else None
        if user is None or not user.is_active or user.session_key != session_key:
            return None
        return user

    from flask_babel import lazy_gettext

    login_manager.login_message = lazy_gettext("Please log in to see this page.")


def _register_blueprints(app: Flask) -> None:
    from conference.audit.views import bp as audit_bp
    from conference.auth.views import bp as auth_bp
    from conference.backoffice.views import bp as backoffice_bp
    from conference.checkin.views import bp as checkin_bp
    from conference.communication.views import bp as communication_bp
    from conference.events.views import bp as events_bp
    from conference.invoicing.views import bp as invoicing_bp
    from conference.mail.views import bp as mail_bp
    from conference.payments.views import bp as payments_bp
    from conference.privacy.views import bp as privacy_bp
    from conference.registration.views import bp as registration_bp
    from conference.stands.views import bp as stands_bp
    from conference.transfers.views import bp as transfers_bp

    for blueprint in (
        events_bp,
        registration_bp,
        auth_bp,
        backoffice_bp,
        invoicing_bp,
        mail_bp,
        payments_bp,
        transfers_bp,
        checkin_bp,
        stands_bp,
        audit_bp,
        communication_bp,
        privacy_bp,
    ):
        app.register_blueprint(blueprint)


def _register_commands(app: Flask) -> None:
    from conference.auth.commands import users_cli
    from conference.events.commands import demo_cli
    from conference.mail.commands import outbox_cli
    from conference.payments.commands import payments_cli
    from conference.privacy.commands import privacy_cli
    from conference.registration.commands import registration_cli

    for group in (users_cli, outbox_cli, demo_cli, registration_cli, payments_cli, privacy_cli):
        app.cli.add_command(group)


def _register_error_pages(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    from conference.core.db import db

    def error_page(status: int):
        def handler(error):
            return render_template("core/error.html", status=status, error=error), status

        return handler

    for status in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(status, error_page(status))

    def server_error(error):
        # The page must render even when the session's transaction is broken.
        _rollback_quietly(db)
        return error_page(500)(error)

    app.register_error_handler(500, server_error)
    app.register_error_handler(CSRFError, error_page(400))

    # A service that finds nothing (unknown slug, token or id) raises NotFound;
    # views let it through and every such answer is the same 404 page.
    from conference.core.errors import NotFound

    def not_found(error):
        db.session.rollback()
        # A manage or offer link of an edition whose personal data was erased says so.
        from conference.privacy.views import erased_link_page

        erased = erased_link_page()
        if erased is not None:
            return erased
        return error_page(404)(error)

    app.register_error_handler(NotFound, not_found)
    _register_database_error_page(app)


def _register_database_error_page(app: Flask) -> None:
    """A lost or unreachable database is a 503 page that says what happened, not a 500.

    The transaction is rolled back (the server already did, when the connection
    died); SQLAlchemy has invalidated the dead connection, and any other the
    server closed is replaced at checkout (``replace_connections_the_server_closed``),
    so the next request works once the database is back. The page says nothing
    was saved only when that is known: if a COMMIT had been sent in this request,
    it may have gone through.
    """
    from flask import request
    from sqlalchemy.exc import DBAPIError, PendingRollbackError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from conference.core.db import db
    from conference.core.errors import commit_started_in_request, database_unavailable

    def database_error(error):
        if not database_unavailable(error):
            raise error  # a bug (constraint, SQL): the ordinary 500 page, logged
        _rollback_quietly(db)
        in_doubt = commit_started_in_request()
        # The driver's message only: the statement's parameters hold personal data.
        cause = getattr(error, "orig", None) or error
        app.logger.warning(
            "Database unavailable during %s %s (commit %s): %s: %s",
            request.method,
            request.path,
            "may have happened" if in_doubt else "not sent",
            type(cause).__name__,
            str(cause).strip()[:500],
        )
        html = render_template("core/unavailable.html", in_doubt=in_doubt)
        return html, 503, {"Retry-After": "10", "Cache-Control": "no-store"}

    for kind in (DBAPIError, PoolTimeout, PendingRollbackError):
        app.register_error_handler(kind, database_error)


def _rollback_quietly(db) -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001, S110 - the connection is gone; the session is discarded at teardown
        pass


def _register_template_helpers(app: Flask) -> None:
    from conference.core.templating import init_templating

    init_templating(app)
