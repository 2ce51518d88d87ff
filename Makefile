# sk3dmm: `make demo` runs the main job, `make test` the tests. Both set up .venv first.
#
# The venv sees the system's site-packages, so a CUDA torch that is already installed is
# kept. Otherwise torch==2.13.0 is installed first: on this project's machines pip takes a
# local CPU wheel for that pin (an unpinned torch would pull several GB of CUDA packages).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.sk3dmm-installed

.PHONY: setup demo test test-slow wheel-smoke docs lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test,fast]"
	touch $(STAMP)

demo: setup
	$(BIN)/sk3dmm demo --output-dir out
	$(BIN)/sk3dmm experiments --out out/experiments

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check sk3dmm tests benchmarks examples tools

# Build the wheel, install it in a fresh virtualenv outside the source tree and run every
# embedded model from another folder: catches package data left out of the wheel.
SMOKE_DIR ?= $(or $(TMPDIR),/tmp)/sk3dmm-wheel-smoke
wheel-smoke: setup
	rm -rf $(SMOKE_DIR) && mkdir -p $(SMOKE_DIR)/src
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(SMOKE_DIR)/src
	cd $(SMOKE_DIR)/src && $(CURDIR)/$(BIN)/pip wheel -q --no-deps --no-build-isolation -w $(SMOKE_DIR)/dist .
	$(PYTHON) -m venv $(SMOKE_DIR)/venv
	$(SMOKE_DIR)/venv/bin/pip install -q "torch==2.13.0"
	$(SMOKE_DIR)/venv/bin/pip install -q "$$(ls $(SMOKE_DIR)/dist/sk3dmm-*.whl)[fast]"
	cp .ci/wheel_smoke.py $(SMOKE_DIR)/
	cd / && $(SMOKE_DIR)/venv/bin/python $(SMOKE_DIR)/wheel_smoke.py $(CURDIR)

# The API reference from the docstrings (needs Sphinx from the package registry; not run in CI).
docs: setup
	$(BIN)/pip install -q "sphinx>=7"
	$(BIN)/sphinx-build -q -b html docs/api docs/api/_build/html

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/bench_landmark_fitting.py

clean:
	rm -rf $(VENV) out .pytest_cache
