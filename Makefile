# sk3dmm: `make demo` runs the main job, `make test` the tests. Both set up .venv first.
#
# The venv sees the system's site-packages, so a CUDA torch that is already installed is
# kept. Otherwise torch==2.13.0 is installed first: on this project's machines pip takes a
# local CPU wheel for that pin (an unpinned torch would pull several GB of CUDA packages).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.sk3dmm-installed

.PHONY: setup demo test test-slow lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

demo: setup
	$(BIN)/sk3dmm demo --output-dir out
	$(BIN)/sk3dmm experiments --out out/experiments

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check sk3dmm tests benchmarks examples tools

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/bench_landmark_fitting.py

clean:
	rm -rf $(VENV) out .pytest_cache
