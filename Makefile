# The README's two commands: `make run` and `make test`. Both set everything up from a fresh clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs what running needs; `make test` adds the test tools.
RUN_INSTALLED := $(VENV)/.installed-run
INSTALLED := $(VENV)/.installed
PORT ?= 8000
# Tests run with production settings (DEBUG off) on plain HTTP, with throwaway keys.
TEST_ENV := SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-not-for-production-0123456789abcdef} \
	AUDIT_CHAIN_KEY=$${AUDIT_CHAIN_KEY:-test-only-audit-chain-key-not-for-production-0123456789} \
	DEBUG=0 USE_TLS=0

.PHONY: run test bench lint format install clean lock messages

install: $(INSTALLED)

$(RUN_INSTALLED): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	touch $(RUN_INSTALLED)

$(INSTALLED): $(RUN_INSTALLED)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(INSTALLED)

# The site on http://localhost:$(PORT)/ (PORT=8123 make run for another port); emailed links name
# the same address, and mail is printed here.
run: RUN_ENV := DEBUG=1 USE_TLS=0 EMAIL_ALLOW_TEST_DOMAINS=1 SITE_URL=$${SITE_URL:-http://localhost:$(PORT)}
run: $(RUN_INSTALLED)
	mkdir -p var
	$(RUN_ENV) $(BIN)/python manage.py compilemessages --ignore .venv --ignore var --verbosity 0
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@echo "Portcullis runs at http://localhost:$(PORT)/ (stop it with Ctrl-C)"
	$(RUN_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(TEST_ENV) $(BIN)/python manage.py compilemessages --ignore .venv --ignore var --verbosity 0
	$(TEST_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

# Figures, not a test: needs PostgreSQL and Redis (start them as .ci/run does). It makes and
# drops its own database; see docs/performance.md. BENCH_ARGS="--parts 1,3" runs some parts;
# BENCH_ARGS="--parts 6" the audit log at platform scale (10 million events over 1,000 tenants,
# --scale-events/--scale-tenants to change that; bench/results-scale.json).
bench: $(INSTALLED)
	$(TEST_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(TEST_ENV) EMAIL_ALLOW_TEST_DOMAINS=1 \
		DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portcullis_bench} \
		REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/9} $(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Collect every string marked for translation into locale/<lang>/LC_MESSAGES/django.po; translate
# the new entries there (`make test` and `make run` compile them).
messages: $(INSTALLED)
	$(BIN)/python manage.py makemessages --all --no-location --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*'

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-pin every dependency after changing pyproject.toml.
lock:
	rm -rf /tmp/portcullis-lock && $(PYTHON) -m venv /tmp/portcullis-lock
	/tmp/portcullis-lock/bin/pip install --quiet -e '.[test]'
	/tmp/portcullis-lock/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) var
