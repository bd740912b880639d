# Two commands are all a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
CONFIG ?= config/config.yaml

.PHONY: setup run reference reference-real reference-baseline reference-docs test bench lint slurm-smoke clean help

help:
	@echo "make run    set up .venv and run the default study (simulated data, 2 cores)"
	@echo "make reference  the reference study (config/reference.yaml) in reference/, about 3.5 h on 2 cores"
	@echo "make reference-real  its fluorescence models on a real labelled sample (ndev-sampledata), each instance method"
	@echo "make reference-baseline  StarDist on the same images, in domain and on that sample (BASELINE_PY=python with nucflow[baselines])"
	@echo "make reference-docs  copy its results (summary, figures, small tables) into docs/reference/"
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

# The reference fluorescence models on real images they never saw: the ndev-sampledata scratch assay
# (10 Hoechst fields with nucleus labels), every instance method, at the models' pixel size.
# --no-deps: the importer only locates the package's TIFF and reads it with tifffile.
REAL_DIR := $(REFERENCE_DIR)/real_sample
reference-real: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps "ndev-sampledata==0.0.3"
	test -f $(REAL_DIR)/ndev/manifest.csv || $(BIN)/nucflow import ndev --out $(REAL_DIR)/ndev
	set -e; for run in $(REFERENCE_DIR)/results/runs/model_comparison-*-fl-seven_lines-s*; do \
		$(BIN)/nucflow choose method --run $$run --manifest $(REAL_DIR)/ndev/manifest.csv --rescale --threads $(CORES) \
			--out-table $(REAL_DIR)/$$(basename $$run).csv --out-images $(REAL_DIR)/$$(basename $$run)_images.csv; \
	done
	$(BIN)/nucflow choose method-table --tables $$(ls $(REAL_DIR)/model_comparison-*-s[0-9].csv) \
		--out $(REFERENCE_DIR)/results/tables/real_sample/method_scores.csv

# StarDist trained on the reference's seven-lines fluorescence images (train/val split), scored in
# domain and on the ndev sample of reference-real. Needs the optional extra nucflow[baselines]:
# BASELINE_PY is a Python that has it (TensorFlow 2.19 needs numpy < 2.2, so usually a separate
# environment, envs/baselines.yaml). An existing model folder is kept, not retrained.
BASELINE_PY ?= $(BIN)/python
STARDIST := $(abspath $(REFERENCE_DIR))/results/baselines/stardist-fl-seven_lines-s0
reference-baseline: $(STAMP)
	cd $(REFERENCE_DIR) && { test -f $(STARDIST)/baseline.json || $(BASELINE_PY) -m nucflow baseline train \
		--manifest resources/simulated/manifest.csv --splits results/data/splits.json --dataset seven_lines \
		--out $(STARDIST) --epochs 60 --steps-per-epoch 100 --seed 0; }
	cd $(REFERENCE_DIR) && $(BASELINE_PY) -m nucflow baseline predict --model $(STARDIST) \
		--manifest resources/simulated/manifest.csv --eval-set seven_lines:test --splits results/data/splits.json \
		--out $(STARDIST)/labels-seven_lines-test
	cd $(REFERENCE_DIR) && $(BASELINE_PY) -m nucflow baseline predict --model $(STARDIST) \
		--manifest real_sample/ndev/manifest.csv --rescale --out $(STARDIST)/labels-ndev
	set -e; cd $(REFERENCE_DIR) && for s in seven_lines-test ndev; do \
		m=resources/simulated/manifest.csv; [ $$s = ndev ] && m=real_sample/ndev/manifest.csv; \
		$(abspath $(BIN))/nucflow evaluate --manifest $$m --pred-dir $(STARDIST)/labels-$$s \
			--ids-file $(STARDIST)/labels-$$s/ids.txt --run-id stardist-fl-seven_lines-s0 \
			--out-images $(STARDIST)/metrics-$$s/per_image.csv --out-objects $(STARDIST)/metrics-$$s/per_object.csv \
			--out-summary $(STARDIST)/metrics-$$s/summary.json; \
	done

# docs/reference/: what the reference study found, small enough to commit (no maps, no per-object
# tables), written beside and swapped in whole.
REFERENCE_DOCS := docs/reference
reference-docs: $(STAMP)
	rm -rf $(REFERENCE_DOCS).new && mkdir -p $(REFERENCE_DOCS).new/figures $(REFERENCE_DOCS).new/tables
	$(BIN)/nucflow attribute targets --results $(REFERENCE_DIR)/results --out $(REFERENCE_DIR)/results/tables/targets.csv
	cp $(REFERENCE_DIR)/results/tables/targets.csv $(REFERENCE_DOCS).new/
	cp $(REFERENCE_DIR)/results/summary.md $(REFERENCE_DIR)/results/tables/claims.csv $(REFERENCE_DOCS).new/
	cp $(REFERENCE_DIR)/results/figures/*.png $(REFERENCE_DOCS).new/figures/
	cd $(REFERENCE_DIR)/results/tables && for f in */per_run.csv */per_image.csv */convergence.csv */learning_curves.csv \
		*/method_choice.csv */greedy.csv */best.json compute/*.csv compute/*.json real_sample/*.csv; do \
		[ -f "$$f" ] && mkdir -p $(abspath $(REFERENCE_DOCS).new)/tables/$$(dirname $$f) && cp $$f $(abspath $(REFERENCE_DOCS).new)/tables/$$f; \
	done; true
	for d in $(REFERENCE_DIR)/results/baselines/*/; do [ -f $$d/baseline.json ] || continue; \
		out=$(REFERENCE_DOCS).new/tables/baselines/$$(basename $$d); mkdir -p $$out; cp $$d/baseline.json $$out/; \
		for m in $$d/metrics-*/; do [ -d $$m ] && cp $$m/per_image.csv $$out/$$(basename $$m)-per_image.csv; done; \
	done; true
	mkdir -p $(REFERENCE_DOCS).new/lr_find && for d in $(REFERENCE_DIR)/results/lr_find/*/; do \
		cp $$d/curve.csv $(REFERENCE_DOCS).new/lr_find/$$(basename $$d).csv; cp $$d/lr.json $(REFERENCE_DOCS).new/lr_find/$$(basename $$d).json; done
	cp config/reference.yaml $(REFERENCE_DOCS).new/config.yaml
	cp $(REFERENCE_DIR)/results/config/study.json $(REFERENCE_DOCS).new/study.json
	for f in README.md RUN.md; do [ ! -f $(REFERENCE_DOCS)/$$f ] || cp $(REFERENCE_DOCS)/$$f $(REFERENCE_DOCS).new/; done
	rm -rf $(REFERENCE_DOCS).old && { [ ! -d $(REFERENCE_DOCS) ] || mv $(REFERENCE_DOCS) $(REFERENCE_DOCS).old; } \
		&& mv $(REFERENCE_DOCS).new $(REFERENCE_DOCS) && rm -rf $(REFERENCE_DOCS).old

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
