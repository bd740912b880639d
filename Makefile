# Two commands are all a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
CONFIG ?= config/config.yaml

.PHONY: setup run reference test bench lint slurm-smoke clean help

help:
	@echo "make run    set up .venv and run the default study (simulated data, 2 cores)"
	@echo "make reference  the reference study (config/reference.yaml) in reference/, up to 2.5 h on 2 cores"
	@echo "make test   set up .venv and run the test suite"
	@echo "make bench  print speed/size benchmarks"
	@echo "make lint   snakemake --lint"
	@echo "make slurm-smoke  the whole smoke study through the SLURM plugin and fake cluster commands"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: anything unpinned would pull a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test,slurm]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)

# The reference study runs in its own folder, so the demo's results/ stay as they are.
REFERENCE_DIR ?= reference
reference: $(STAMP)
	mkdir -p $(REFERENCE_DIR)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --snakefile $(abspath Snakefile) --directory $(REFERENCE_DIR) \
		--workflow-profile $(abspath profiles/default) --cores $(CORES) --configfile $(abspath config/reference.yaml)

# The tests run in CORES pytest-xdist workers, a test file to a worker (module fixtures are built
# once); the workers share the one smoke study (tests/conftest.py).
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -n $(CORES) --dist loadfile

bench: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/nucflow bench

slurm-smoke: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -s -m cluster tests/test_slurm.py

lint: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint --configfile $(CONFIG)

clean:
	rm -rf results logs .snakemake
