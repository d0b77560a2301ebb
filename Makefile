# Everything sets itself up: a .venv is created and the project installed on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: install test demo bench docs lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench,docs]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m ruff check skkeras_proba tests benchmarks examples
	$(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider

demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

docs: $(STAMP)
	$(BIN)/python -m sphinx -W -b html docs docs/_build/html

lint: $(STAMP)
	$(BIN)/python -m ruff check skkeras_proba tests benchmarks examples
	$(BIN)/python -m ruff format --check skkeras_proba tests benchmarks examples

clean:
	rm -rf $(VENV) docs/_build
