# coachdb-infra: the two commands people run are `make dev` and `make test`.
# Everything else here is a step of those two, usable on its own.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
BIN     := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# Ansible reads ansible/ansible.cfg when run from ansible/; the tests and
# Molecule are run from the repository root and point at it explicitly.
export ANSIBLE_CONFIG := $(abspath ansible/ansible.cfg)
export PY_COLORS := 1
export ANSIBLE_FORCE_COLOR := 1

# Scenarios `make test` runs, in order. Each is a directory under molecule/.
MOLECULE_SCENARIOS ?= $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# --- set-up -----------------------------------------------------------------

.PHONY: os-deps
os-deps: ## Install the OS packages the tooling needs (python3-venv, git, ...)
	@scripts/os-deps.sh

$(VENV)/.installed: requirements/requirements.txt pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade 'pip==25.3'
	$(PYTHON) -m pip install -q -r requirements/requirements.txt
	$(PYTHON) -m pip install -q --no-deps -e .
	@touch $@

.PHONY: venv
venv: os-deps $(VENV)/.installed ## Create the virtualenv with the pinned dependencies

.PHONY: lock
lock: ## Re-resolve requirements.in into requirements.txt (needs the network)
	@scripts/lock.sh

# --- the main job -------------------------------------------------------------

.PHONY: dev
dev: venv ## Set up and run `ansible-playbook site.yml` against this machine
	cd ansible && $(BIN)/ansible-playbook site.yml $(ANSIBLE_ARGS)

# --- tests ---------------------------------------------------------------------

.PHONY: test-prereqs
test-prereqs: venv ## Docker engine, base images, PostgreSQL 14 binaries, npm packages for the tests
	@scripts/os-deps.sh test
	@cd clients/node && npm ci --no-audit --no-fund --silent
	@scripts/ensure-docker.sh
	@scripts/build-base-images.sh bookworm trixie
	@scripts/fetch-pg14.sh >/dev/null

.PHONY: lint
lint: venv ## yamllint, ansible-lint (production profile), ruff, secret scan
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --offline
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@scripts/scan-secrets.sh

.PHONY: pytest
pytest: test-prereqs ## Unit and integration tests (real PostgreSQL, real containers)
	$(BIN)/pytest

.PHONY: molecule
molecule: test-prereqs ## Every Molecule scenario: converge, idempotence, verify
	@set -e; for s in $(MOLECULE_SCENARIOS); do \
	  echo "=== molecule test -s $$s"; \
	  $(BIN)/molecule test -s $$s; \
	done

.PHONY: test
test: lint pytest molecule ## Set up everything and run every test
	@echo "make test: all suites passed"

.PHONY: bench
bench: test-prereqs ## Print connection and pool figures (not a test)
	$(PYTHON) -m coachdb.bench $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove the virtualenv and caches (keeps Docker images)
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
