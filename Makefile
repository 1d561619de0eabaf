# Two entry points: `make demo` (main job on the bundled example) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
# compile the numba kernels into their on-disk cache at install (~30 CPU s once), so the first
# `optim demo` runs warm (optim.planning.warmup; README "Install")
WARM := $(BIN)/python -c "from optim.planning.warmup import warm; warm()"
# write the bytecode of our own modules at install, as pip does for a wheel: with an editable
# install and PYTHONDONTWRITEBYTECODE=1 (common in containers and CI) every CLI start would
# compile them from source again (~60 ms of `optim validate`'s start-up; benchmarks/RESULTS.md)
BYTECODE := $(BIN)/python -m compileall -q optim models solvers instances

.PHONY: install demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BYTECODE)
	$(WARM)
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# stockpyl (a test-only reference) pulls in sphinx-toolbox, whose .pth file imports sphinx
	# at EVERY interpreter start (0.3-0.9 s per process: each CLI test, worker, benchmark run).
	# Nothing here uses it (stockpyl itself never imports sphinx); tests/test_packaging.py checks.
	rm -f $(VENV)/lib/python*/site-packages/_sphinx_jinja2_compat.pth
	$(BYTECODE)
	$(WARM)
	touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/optim demo --out demo-output

test: $(STAMP_DEV)
	$(BIN)/pytest -n 2 -q

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy optim models solvers instances

bench: $(STAMP_DEV)
	$(BIN)/python benchmarks/bench_rationing.py

clean:
	rm -rf $(VENV) build *.egg-info demo-output
