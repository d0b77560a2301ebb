# Everything sets itself up: a .venv is created and the project installed on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: install test test-jax test-oldest test-torch wheel-check demo bench docs lint clean peer-scikeras

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench,docs,release,jax,onnx]"
	touch $(STAMP)

# The whole suite on TensorFlow (Keras' default here), then again on JAX.
test: $(STAMP)
	$(BIN)/python -m ruff check skkeras_proba tests benchmarks examples .ci
	$(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider
	$(MAKE) test-jax

test-jax: $(STAMP)
	KERAS_BACKEND=jax $(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider

# The gallery's logits example (examples/plot_logits_vs_scikeras.py) in a terminal.
demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# The site: user guide, API pages (docs/generated) and the example gallery
# (examples/plot_*.py run into docs/auto_examples); warnings are errors and
# every internal reference is checked (-n). Open docs/_build/html/index.html.
docs: $(STAMP)
	$(BIN)/python -m sphinx -W -n -b html docs docs/_build/html

# scikeras' own test suite against this project, compared with scikeras' run
# (needs ../shared/peer_scikeras and a git directory of scikeras' repository).
PEER ?= ../shared/peer_scikeras
peer-scikeras: $(STAMP)
	@test -f $(PEER)/run.sh || { echo "peer-scikeras: $(PEER)/run.sh not found; set PEER=<path to peer_scikeras>"; exit 2; }
	@test -n "$(PEER_SCIKERAS_REPO)" || { echo "peer-scikeras: set PEER_SCIKERAS_REPO to a git directory of github.com/adriangb/scikeras"; exit 2; }
	export PEER_OUT=$${PEER_OUT:-$$(mktemp -d)} && bash $(PEER)/run.sh skkeras_proba $(BIN)/python; \
	$(PYTHON) $(PEER)/compare.py $(PEER)/baseline_scikeras.txt "$$PEER_OUT"

lint: $(STAMP)
	$(BIN)/python -m ruff check skkeras_proba tests benchmarks examples .ci
	$(BIN)/python -m ruff format --check skkeras_proba tests benchmarks examples .ci

# The oldest versions pyproject.toml declares, in their own environment.
OLDEST := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed-stamp

$(OLDEST_STAMP): pyproject.toml .ci/oldest_constraints.py
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --upgrade pip packaging
	$(OLDEST)/bin/python .ci/oldest_constraints.py > $(OLDEST)/constraints.txt
	$(OLDEST)/bin/python -m pip install --quiet -c $(OLDEST)/constraints.txt -e ".[test]"
	touch $(OLDEST_STAMP)

test-oldest: $(OLDEST_STAMP)
	$(OLDEST)/bin/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider

# The suite on Keras' PyTorch backend, in its own environment: torch's wheels
# are large, so `make test` leaves them out. torch is pinned to the version
# tested; on Linux, PyPI's torch wheel pulls CUDA libraries: for the CPU-only
# wheel pass TORCH_PIP_OPTIONS="--index-url https://download.pytorch.org/whl/cpu".
TORCH_VENV := .venv-torch
TORCH_STAMP := $(TORCH_VENV)/.installed-stamp
TORCH_PIP_OPTIONS ?=

$(TORCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TORCH_VENV)/bin/python -m pip install --quiet $(TORCH_PIP_OPTIONS) torch==2.13.0
	$(TORCH_VENV)/bin/python -m pip install --quiet -e ".[test,torch]"
	touch $(TORCH_STAMP)

test-torch: $(TORCH_STAMP)
	KERAS_BACKEND=torch $(TORCH_VENV)/bin/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider

wheel-check: $(STAMP)
	.ci/wheel_check.sh $(BIN)/python

clean:
	rm -rf $(VENV) $(OLDEST) $(TORCH_VENV) dist build docs/_build docs/auto_examples \
		docs/gen_modules docs/generated docs/sg_execution_times.rst
