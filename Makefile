# Without DATABASE_URL/REDIS_URL in the environment, `demo`, `test` and `migrate` run against an
# embedded PostgreSQL and Redis (deliberation/embedded.py, data in .local/embedded).

PYTHON_BOOTSTRAP ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
EMBEDDED := $(PY) -m deliberation.embedded --
PYTEST_ARGS ?=
# Developer targets: the built-in development secret key is fine unless DJANGO_SECRET_KEY is set
# (needed when DATABASE_URL/REDIS_URL come from the environment, e.g. in CI).
export DELIBERATION_DEV ?= 1

.PHONY: venv demo test lint migrate clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || { \
	  test -n "$(PYTHON_BOOTSTRAP)" || { echo "Python 3.11+ (python3.11 or python3) is needed." >&2; exit 1; }; \
	  echo "Creating $(VENV) with $(PYTHON_BOOTSTRAP)"; \
	  $(PYTHON_BOOTSTRAP) -m venv $(VENV); }
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev,embedded]'
	@touch $@

demo: venv
	$(EMBEDDED) $(PY) -m deliberation.rundemo

test: venv
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Chromium for the browser test (Debian packages chromium, chromium-driver)"; \
	    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; } \
	      || echo "Could not install Chromium; the browser test will be skipped."; \
	  else \
	    echo "Chromium is not installed (/usr/bin/chromium): the browser test will be skipped."; \
	    echo "To run it: sudo apt-get install chromium chromium-driver"; \
	  fi; \
	fi
	$(EMBEDDED) $(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

migrate: venv
	$(EMBEDDED) $(PY) manage.py migrate

clean:
	rm -rf .local
