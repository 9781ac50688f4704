# make run: install, migrate a SQLite database, load the demo, serve on :5000
# make test: install, run the whole suite
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
STAMP := $(VENV)/.installed
AXE := node_modules/axe-core/axe.min.js
export CONFERENCE_ENV ?= development
# pytest-xdist workers: one per core (the PostgreSQL run gives each its own database).
TEST_WORKERS ?= auto

.PHONY: run test install system-packages translations lint format bench bench-repeat bench-scaleout clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-packages
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) translations $(AXE)

# axe-core for the accessibility browser tests, from the npm registry as locked in
# package-lock.json (never a CDN). Needs node and npm: Debian's, unless already there.
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null || { \
	  echo "Installing Debian packages: nodejs npm"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; \
	}
	npm ci --no-audit --no-fund
	touch $@

# WeasyPrint needs Pango (and HarfBuzz subset, so fonts are subset fast); browser tests need Debian's Chromium; PDFs are checked with poppler.
system-packages:
	@missing=""; \
	for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core chromium poppler-utils; do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

translations: $(STAMP)
	$(VENV)/bin/pybabel compile -d translations -f

run: install
	$(FLASK) db upgrade
	$(FLASK) demo load
	$(FLASK) run --host 127.0.0.1 --port 5000

test: install
	$(VENV)/bin/pytest -n $(TEST_WORKERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/rush.py --seats 1000 --attempts 5000 --clients 32

# Ten rushes in a row, a JSON line each and a summary; fails if any run oversold,
# lost an order, answered 5xx or left an order without its e-mails.
bench-repeat: install
	$(PY) bench/rush.py --seats 1000 --attempts 5000 --clients 32 --repeat 10

# The rush over two gunicorn app servers on one PostgreSQL, rate limits in Redis
# (127.0.0.1:6379), then two outbox workers at once: each e-mail must arrive once.
bench-scaleout: install
	$(PY) bench/rush.py --seats 1000 --attempts 5000 --clients 32 --servers 2

# Refresh the message catalogue after changing UI text.
messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

clean:
	rm -rf $(VENV) node_modules instance/*.db
