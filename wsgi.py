"""Entry point for gunicorn (``gunicorn -c gunicorn.conf.py wsgi:app``) and ``flask --app wsgi``."""

import sys

from conference import create_app
from config import ConfigurationError

try:
    app = create_app()
except ConfigurationError as error:
    # Say plainly what is missing instead of a traceback, and do not start.
    sys.exit(f"Configuration error: {error}")
