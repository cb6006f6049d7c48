# Quick start: `make demo` (main job on the embedded default), `make test` (tests + lint).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/monitor demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	[ $$status -eq 0 ] || exit $$status
	$(MAKE) --no-print-directory lint

lint: $(BIN)/.installed
	$(BIN)/ruff check monitor tests benchmarks scripts
	$(BIN)/ruff format --check monitor tests benchmarks scripts
	$(BIN)/mypy monitor
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) reports/demo
