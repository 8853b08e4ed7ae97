# ntm-search: two commands. `make run` and `make test` both create .venv if missing and install.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_PIN := $(shell grep -E '^torch==' constraints.txt)

.PHONY: run test lint typecheck pytest bench clean ssh-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Torch first, from the pin: a bare `torch` would pull a multi-GB CUDA build.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q --disable-pip-version-check "$(TORCH_PIN)"
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 $(BIN)/python search/run.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check ntm curricula search tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# tests/search/test_cluster_up.py and test_cluster_two_hosts.py (and tests/harness/cluster_*.py)
# run `ray up` over SSH on this machine, the two-host one between network namespaces: Debian's
# openssh-server, rsync and iproute2, installed if missing (as root, like CI). A
# policy-rc.d keeps the package from starting the system's own sshd on 0.0.0.0:22.
ssh-deps:
	@if [ ! -x /usr/sbin/sshd ] || ! command -v rsync >/dev/null || ! command -v ip >/dev/null; then \
	  added=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; added=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server rsync iproute2; \
	  rc=$$?; [ -z "$$added" ] || rm -f /usr/sbin/policy-rc.d; exit $$rc; fi

pytest: $(STAMP) ssh-deps
	RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 $(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
