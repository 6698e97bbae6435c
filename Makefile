# GNoME Explorer: `make run` (embedded default: SQLite, in-process tasks, sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs on PostgreSQL (this machine's local server unless DATABASE_URL says otherwise).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/gnome

.PHONY: install run test lock worker clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and alone: pinned, CPU build (an unpinned torch pulls a several-GB CUDA build).
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	# what the tests drive besides the application (mp-api), constrained by the lock
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap
	@echo "GNoME Explorer on http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	$(BIN)/python manage.py runserver --noreload $(HOST):$(PORT)

test: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python -m pytest $(PYTEST_ARGS)

worker: install
	$(BIN)/celery -A gnome_site worker --loglevel=INFO

# Regenerate the full lock after changing requirements.in (torch stays out: it is installed first).
lock: install
	$(BIN)/pip install --quiet -r requirements.in
	$(BIN)/pip freeze --exclude-editable | grep -iv '^torch==' > requirements.lock

clean:
	rm -rf var staticfiles .pytest_cache
