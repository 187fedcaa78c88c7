# colorize: `make help` lists the targets. Every target creates the environment first if it is missing.
MODEL ?= cnn
SPACE ?= lab
ARGS ?=

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help env train test test-slow test-all lint clean-env

help: ## List the targets
	@echo "colorize: automatic image colorization experiments (cnn | resnet | gan) x (lab | luv)"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: MODEL=$(MODEL) SPACE=$(SPACE) ARGS='key=value ...' (any config override)"
	@echo "Example:   make train MODEL=cnn SPACE=luv ARGS=\"trainer.max_epochs=3 data.batch_size=8\""

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

env: $(VENV)/.synced ## Create or update the environment from uv.lock

train: env ## Train MODEL on SPACE (default: cnn, lab, the built-in sample photos)
	$(PY) -m colorize.train model=$(MODEL) space=$(SPACE) $(ARGS)

test: env ## Run the fast test suite (a few minutes on 2 CPU cores)
	$(PY) -m pytest $(ARGS)

test-slow: env ## Run only the slow tests (DDP, longer training)
	$(PY) -m pytest -m slow $(ARGS)

test-all: env ## Run every test
	$(PY) -m pytest -m "slow or not slow" $(ARGS)

lint: env ## ruff over src, tests, scripts
	$(PY) -m ruff check src tests scripts

clean-env: ## Remove the environment (runs/ and outputs are left alone)
	rm -rf $(VENV) .tools
