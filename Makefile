# convae_tf: every target sets itself up from nothing (a .venv in the repo).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL ?= vae
DATASET ?= sprites
EPOCHS ?= 5
PYTEST_ARGS ?=

.PHONY: install demo test lint format train clean

install: $(STAMP)

# Reinstall only when the dependency pins change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

# The main job end to end on the embedded data: train, export, evaluate, then say where it all is.
demo: install
	$(PY) -m convae_tf.train --model=$(MODEL) --dataset=$(DATASET) --epochs=$(EPOCHS) \
		--workdir=runs/demo --overwrite
	$(PY) -m convae_tf.export --workdir=runs/demo --out=exported_models/demo
	$(PY) -m convae_tf.evaluate --workdir=runs/demo --iw_examples=500
	@echo
	@echo "Demo done. Results:"
	@echo "  runs/demo/                 model.keras, history.csv, config.json, checkpoints/, tensorboard/"
	@echo "  runs/demo/metrics.json     reconstruction, denoising, inpainting, VAE bounds, linear probe"
	@echo "  runs/demo/figures/         PNGs: reconstructions, samples, latent space, curves, ..."
	@echo "  exported_models/demo/      SavedModel (TF Serving) + .tflite files + model_card.json, one folder per version"

train: install
	$(PY) -m convae_tf.train --model=$(MODEL) --dataset=$(DATASET) --epochs=$(EPOCHS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) runs .pytest_cache

# Deployment (README "Deployment"): export a finished run, then measure every export format.
WORKDIR ?= runs/demo
QUANTIZE ?= float32,int8
.PHONY: export export-sizes
export: install
	$(PY) -m convae_tf.export --workdir=$(WORKDIR) --quantize=$(QUANTIZE)

export-sizes: install
	$(PY) experiments/export_sizes.py

# Side-by-side benchmark against the keras.io reference autoencoders (~30-40 min on 2 cores);
# writes experiments/results/benchmark.{json,md}. BENCH_ARGS=--quick for a smoke test.
BENCH_ARGS ?=
.PHONY: bench bench-layers
bench: install
	$(PY) experiments/benchmark.py $(BENCH_ARGS)

# The keras.io VAE's training step taken apart: per-layer float32 vs bfloat16, exact rewrites
# of Conv2DTranspose, batch sizes (~2 min); writes experiments/results/layer_speed.{json,md}.
bench-layers: install
	$(PY) experiments/layer_speed.py $(BENCH_ARGS)
