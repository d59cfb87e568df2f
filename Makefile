# The two commands of the README: `make run` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FASHION_MNIST := /usr/share/datasets/fashion-mnist
CHROMIUM := /usr/bin/chromium

.PHONY: run test cluster-demo compose-smoke

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Real offline data for the proxies: Debian's Fashion-MNIST package (as root, where apt exists).
$(FASHION_MNIST):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist); \
	else echo "note: install Debian's dataset-fashion-mnist for the Fashion-MNIST proxy"; fi

# Debian's Chromium for the browser tests (tests/ui, driven by Playwright's Python package).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -q chromium >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && apt-get install -y -q chromium); \
	else echo "note: install Debian's chromium for the browser tests (tests/ui)"; fi

# The service on the embedded default (SQLite in ./.epim, local Ray/in-process runner): submits
# examples/studies/quickstart.yaml through the API and serves its front until Ctrl-C.
run: $(STAMP) | $(FASHION_MNIST)
	./scripts/run_service.sh

# Two test processes by default (the suite waits on subprocesses, servers and Ray a lot; a file's
# tests stay in one process so module fixtures are built once); TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: $(STAMP) | $(FASHION_MNIST) $(CHROMIUM)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The docker-compose topology as processes on this machine (Ray head + worker, two runners, the
# API, a throwaway PostgreSQL database): two studies over HTTP, checked, then stopped by PID.
cluster-demo: $(STAMP) | $(FASHION_MNIST)
	$(BIN)/python scripts/cluster_demo.py

# `docker compose up` for real on this machine (not part of `make test`: it builds images, about
# 10 minutes the first time): starts a Docker engine if none runs (root, Debian's docker.io),
# builds stand-ins for the base images when they cannot be pulled, runs the stack with no .env,
# submits a study with proxy accuracy, checks it ran on the Ray worker and survives down/up.
compose-smoke: $(STAMP)
	$(BIN)/python scripts/compose_smoke.py
