# The two commands: `make run` starts the app, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test lint bench bench-prepare bench-scale bench-send bench-app clean

run: $(VENV)/.installed
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --browser.gatherUsageStats false

test: $(VENV)/.installed-test
	$(BIN)/ruff check bento_ui tests app.py app_pages ui bench docs
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(VENV)/.installed-test
	$(BIN)/ruff check bento_ui tests app.py app_pages ui bench docs
	$(BIN)/mypy

# Benchmarks print figures (see bench/RESULTS.md); they make their own input in bench/out/.
ROWS ?= 100000 1000000
FORMAT ?= csv
bench: bench-prepare bench-scale bench-send bench-app

bench-prepare: $(VENV)/.installed
	$(BIN)/python -m bench.prepare --rows $(ROWS) --format $(FORMAT) --repeat 3

bench-scale: $(VENV)/.installed
	$(BIN)/python -m bench.prepare --rows 1000000 5000000 --variants bare stream --cleanup

bench-send: $(VENV)/.installed
	$(BIN)/python -m bench.send --events 100000 --rounds 5

# The real app in Debian's Chromium (Playwright, from the test extras): upload -> summary.
APP_ROWS ?= 100000
bench-app: $(VENV)/.installed-test
	$(BIN)/python -m bench.app --rows $(APP_ROWS) --format $(FORMAT)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
