# Every target installs what it needs into .venv first; `make run` and `make test`
# are the two commands a newcomer needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test install lint bench fmt browser axe clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,accel]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# `make run` needs the runtime dependencies only; `make test` (install) adds the dev tools.
RUN_STAMP := $(VENV)/.runtime-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[accel]'
	rm -f $(VENV)/.runtime-*
	touch $(RUN_STAMP)

# The editable install leaves app/ uncompiled, and with PYTHONDONTWRITEBYTECODE set (as in
# some CI and sandbox shells) every command then compiles each module it imports, ~0.1 s
# per process; pip compiles a regular install's modules, this does the same for app/.
# Stale .pyc files are never used: Python checks each against its source's mtime.
COMPILE := $(BIN)/python -m compileall -q app >/dev/null
# The tagger's compiled modules (app/tagging/accel.py): built into .venv/newsmon-accel, used
# only while they match the sources; a second or so when up to date. Without a C compiler
# it prints one line and the tagger runs as pure Python (NEWSMON_PURE_PYTHON=1 forces that).
ACCEL = NEWSMON_PURE_PYTHON=1 $(BIN)/python -m app.tagging.accel_build

install: $(STAMP)
	$(COMPILE)
	@$(ACCEL)

run: $(RUN_STAMP)
	$(COMPILE)
	@$(ACCEL)
	$(BIN)/newsmon serve

lint: install
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/ruff format --check app tests bench migrations
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format app tests bench migrations
	$(BIN)/ruff check --fix app tests bench migrations

# Debian's chromium for the browser tests (Playwright drives it via executable_path).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed: browser tests will be skipped"; }

# axe-core (pinned in package.json) for the accessibility sweep of the browser tests.
AXE := node_modules/axe-core/axe.min.js
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 && npm ci --silent --no-audit --no-fund \
	  || echo "npm is missing: the accessibility tests will be skipped"

axe: $(AXE)

test: install browser axe lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache node_modules
