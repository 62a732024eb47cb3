# AI Assist observability bundle. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/service:$(CURDIR)
export HF_HUB_OFFLINE := 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help setup system-deps demo test test-unit test-stack dashboards check-generated bench compose-check stack-test clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

setup: $(VENV)/.installed system-deps  ## venv with every Python package, Prometheus and Alertmanager

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt 2> >(grep -v 'is ignored: it is neither' >&2)
	touch $@

system-deps:  ## Debian packages: prometheus (with promtool), prometheus-alertmanager (with amtool)
	@if command -v promtool >/dev/null && command -v amtool >/dev/null; then :; else \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager; fi

demo: setup  ## run the service on the embedded defaults and send it real ESG passages
	$(PY) -m ai_assist.demo

test: setup  ## every test: unit, generated-files freshness, promtool, and the stack proofs
	$(PY) -m pytest -q

test-unit: setup  ## the tests that start no Prometheus
	$(PY) -m pytest -q -m "not stack"

dashboards:  ## compile the Python dashboards and rules to JSON / YAML, and the README's tables
	$(PY) -m alerting.build
	$(PY) -m dashboards.build
	$(PY) -m alerting.readme

check-generated:  ## fail when committed dashboards or rules differ from their sources
	$(PY) -m alerting.build --check
	$(PY) -m dashboards.build --check
	$(PY) -m alerting.readme --check

bench: setup  ## benchmark /v1/esg/map and the embedding stage; prints the figures
	$(PY) tests/benchmark.py

compose-check: setup  ## validate docker-compose.yml, Dockerfile and the stack configs (no Docker engine needed)
	$(PY) -m pytest -q tests/test_compose_files.py tests/test_stack_configs.py

stack-test: setup  ## the panel and alert proofs against a running `docker compose up` stack, through Grafana
	$(PY) tests/compose_stack_check.py

clean:  ## remove the local index and caches
	rm -rf .data .pytest_cache
