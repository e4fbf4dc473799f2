# `make run` and `make test` are the two commands a newcomer needs; both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pytest-xdist processes for `make test`; most tests wait more than they compute
TEST_WORKERS ?= 4
STAMP := $(VENV)/.installed

.PHONY: run serve test lint typecheck bench schemas clean

$(STAMP): pyproject.toml sim/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./sim
	touch $(STAMP)

# The whole story on this machine: the Odoo test server, the partners and the hub (SQLite),
# a day of freight played in four minutes, then the hub stays up for a look around.
run: $(STAMP)
	$(BIN)/intermodal demo

# The hub alone on its embedded defaults (SQLite file under var/), with the example partners.
serve: $(STAMP)
	@mkdir -p var
	@test -f var/acme-webhook.secret || $(BIN)/intermodal secret new --out var/acme-webhook.secret
	@chmod 600 var/acme-webhook.secret  # one written by an older Makefile was world-readable
	@test -f var/admin.token || $(BIN)/intermodal secret new --out var/admin.token  # reads: curl -H "authorization: Bearer $$(cat var/admin.token)"
	ACME_WEBHOOK_SECRET=$${ACME_WEBHOOK_SECRET:-$$(cat var/acme-webhook.secret)} \
	  INTERMODAL_ADMIN_TOKEN_REF=$${INTERMODAL_ADMIN_TOKEN_REF:-file:$(CURDIR)/var/admin.token} \
	  $(BIN)/intermodal serve --config examples/intermodal.yaml

test: $(STAMP)
	$(BIN)/ruff check src sim tests bench
	$(BIN)/ruff format --check src sim tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check src sim tests bench
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/intermodal schemas write

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]' -e ./sim
	for b in bench/[!_]*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
