# PixLab: two commands do everything on a fresh machine.
#   make run   set up, then start the app and its mail lab on http://127.0.0.1:5000
#   make test  set up (with the test tools and programs), then run the whole suite

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
DATA   ?= instance
# Debian programs the interoperability and browser tests drive.
DEB_PROGRAMS := curl:curl openssl:openssl fetchmail:fetchmail mbsync:isync chromium:chromium zbarimg:zbar-tools

.PHONY: run test setup setup-test vendor system-programs lint benchmark clean

run: setup
	$(BIN)/pixlab serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

test: setup-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed vendor

setup-test: $(VENV)/.installed-test vendor system-programs

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "PixLab a besoin de Python 3.11 ou plus récent.")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# htmx comes from the npm registry, pinned by package-lock.json; git ignores the copy.
vendor: static/vendor/htmx.min.js

static/vendor/htmx.min.js: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

# Installs what is missing: through apt-get when running as root on Debian or
# Ubuntu, otherwise Playwright's own Chromium (the other programs must then be
# installed by an administrator; the tests that need them say which).
# PostgreSQL's server (pg_ctl, in Debian's /usr/lib/postgresql/N/bin) runs the
# tests on both databases; without it they are skipped, with the reason.
system-programs:
	@missing=""; for pair in $(DEB_PROGRAMS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 \
	  || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installation de :$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "Programmes manquants :$$missing (installez-les avec votre gestionnaire de paquets)"; \
	  case "$$missing" in *chromium*) $(BIN)/python -m playwright install chromium ;; esac; \
	fi

lint: setup-test
	$(BIN)/ruff check pixlab tests benchmarks
	$(BIN)/mypy pixlab

benchmark: setup
	$(BIN)/python benchmarks/lab.py
	$(BIN)/python benchmarks/tester.py

clean:
	rm -rf $(VENV) node_modules static/vendor build dist *.egg-info
