# One command each for the main job and the tests. Both build the environment first.
#   make run                  # set up, then reproduce every paper: runs/<timestamp>/{report.html,RESULTS.md}
#   make results ARGS="ids"   # rerun those papers (all if none) into results/ and rebuild RESULTS.md
#   make seeds ARGS="ids"     # run them on seeds 1 and 2 too (SEEDS="..."), into results/<id>/seed-<n>/
#   make test                 # set up, then lint and the whole test suite (what CI runs)
#   make TORCH="torch==2.9.1 torchvision==0.24.1" test    # another torch build

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.14.1 torchvision==0.29.1
ARGS ?=
SEEDS ?= 1 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.landmarks-installed

.PHONY: setup run results seeds test lint clean

setup:
	@if [ ! -x "$(BIN)/python" ]; then $(PYTHON) -m venv $(VENV); fi
	@if [ ! -f "$(STAMP)" ] || [ "$$(cat $(STAMP))" != "$(TORCH) | $$(cksum < pyproject.toml)" ]; then \
		set -e; \
		$(BIN)/python -m pip install --quiet --upgrade pip; \
		echo "installing $(TORCH) (about a minute and a half)"; \
		$(BIN)/python -m pip install --quiet $(TORCH); \
		$(BIN)/python -m pip install --quiet -e '.[test]'; \
		echo "$(TORCH) | $$(cksum < pyproject.toml)" > $(STAMP); \
	fi

run: setup
	$(BIN)/landmarks reproduce $(ARGS)

results: setup
	$(BIN)/landmarks reproduce --out results $(ARGS)
	cp results/RESULTS.md RESULTS.md

seeds: setup
	$(BIN)/landmarks reproduce --out results $(ARGS) --seeds $(SEEDS)
	cp results/RESULTS.md RESULTS.md

lint: setup
	$(BIN)/ruff check landmarks tests scripts

test: lint
	$(BIN)/python -m pytest $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
