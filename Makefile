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

# Scenarios `make test` runs. Each is a directory under molecule/.
# `upgrade` (the Ansible major upgrade for real, three methods + rollback, ~27 min) is not part of `make test`:
# it would take the CI run past its 45-minute goal. `make molecule-upgrade` runs it.
MOLECULE_SCENARIOS ?= $(filter-out upgrade,$(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
# The longest scenarios first, so the parallel slots (TEST_JOBS) end close together.
MOLECULE_LONGEST_FIRST := ha default backup
MOLECULE_ORDER := $(foreach s,$(MOLECULE_LONGEST_FIRST),$(filter $(s),$(MOLECULE_SCENARIOS))) \
                  $(filter-out $(MOLECULE_LONGEST_FIRST),$(MOLECULE_SCENARIOS))
# Suites run side by side (tests/support/suites.py), at most TEST_JOBS at a time (default: the
# CPUs), from one queue in this order (longest first); each output goes to
# .cache/logs/<suite>.log and is printed when the suite fails. pytest runs as two suites, its
# parts (conftest.py SUITE_PARTS: Ansible playbook runs, the rest). The mutation check runs its
# tests in a scratch copy with their own servers, directories and ports, so it may run beside
# them; it runs MUTATION_JOBS entries at a time (default 2, each worker in its own scratch
# copy): one at a time kept less than half a core busy, its entries mostly wait. TEST_APART
# lists pairs a:b that must never run at the same time (none at present).
TEST_JOBS ?= $(shell nproc)
export TEST_JOBS
PYTEST_PARTS := rest ansible
TEST_SUITES ?= $(addprefix pytest-,$(PYTEST_PARTS)) $(addprefix molecule-,$(firstword $(MOLECULE_ORDER))) \
               mutation-check $(addprefix molecule-,$(wordlist 2,99,$(MOLECULE_ORDER)))
TEST_APART ?=
# Each pytest suite prints its slowest tests, so a CI log shows where the time goes.
PYTEST_DURATIONS := --durations=25
# Tag of the shared Molecule images (scripts/images/, built by scripts/build-base-images.sh);
# molecule/*/molecule.yml name their images with it.
export COACHDB_IMAGE_TAG ?= $(shell scripts/image-tag.sh)
# Molecule container names and image tags carry this id (molecule/*/molecule.yml), so two
# checkouts sharing one Docker engine never replace each other's containers or images.
export COACHDB_RUN_ID ?= $(shell printf %s "$(CURDIR)" | md5sum | cut -c1-8)
# `make test NO_SKIP=1` (and CI=true) fails a run in which any test skipped (conftest.py).
ifdef NO_SKIP
export COACHDB_NO_SKIP := $(NO_SKIP)
endif
# Each pytest run (the suite, every Molecule verify) appends its counts here; `make test`
# prints the table at the end.
export COACHDB_TEST_SUMMARY := $(abspath .cache/test-summary.txt)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# --- set-up -----------------------------------------------------------------

.PHONY: os-deps
os-deps: ## Install the OS packages the tooling needs (python3-venv, git, ...)
	@scripts/os-deps.sh

$(VENV)/.installed: requirements/requirements.txt pyproject.toml pulumi/pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade 'pip==25.3'
	$(PYTHON) -m pip install -q -r requirements/requirements.txt
	$(PYTHON) -m pip install -q --no-deps -e . -e ./pulumi
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
test-prereqs: venv ## Docker engine, base and shared Molecule images, PostgreSQL 14/17 binaries, Debian's PostgreSQL 15, npm packages
	@scripts/os-deps.sh test
	@cd clients/node && npm ci --no-audit --no-fund --silent
	@scripts/ensure-docker.sh
	@scripts/build-base-images.sh bookworm trixie
	@scripts/fetch-pg.sh 14 >/dev/null
	@scripts/fetch-pg.sh 17 >/dev/null

.PHONY: lint
lint: venv ## yamllint, ansible-lint (production profile), ruff, secret scan, generated docs
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --offline
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/gen_guarded_settings.py --check
	$(BIN)/python scripts/gen_alert_rules.py --check
	@scripts/scan-secrets.sh
	@scripts/role-docs.sh --check

.PHONY: docs
docs: venv ## Regenerate docs/roles/ (variable reference) from the roles' argument specs
	@scripts/role-docs.sh

# One suite each, without set-up: `make test` and `make molecule` run them through
# tests/support/suites.py after test-prereqs.
.PHONY: suite-pytest suite-mutation-check
suite-pytest:
	COACHDB_SUITE=pytest $(BIN)/pytest $(PYTEST_DURATIONS)
suite-pytest-%:
	COACHDB_SUITE=pytest-$* $(BIN)/pytest --suite-part=$* $(PYTEST_DURATIONS)
suite-molecule-%:
	COACHDB_SUITE=molecule-$* $(BIN)/molecule test -s $*
suite-mutation-check:
	$(PYTHON) -m tests.support.mutations $(MUTATION_ARGS)

.PHONY: pytest
pytest: test-prereqs ## Unit and integration tests (real PostgreSQL, real containers)
	@$(MAKE) --no-print-directory suite-pytest

.PHONY: molecule
molecule: test-prereqs ## Every Molecule scenario (side by side, TEST_JOBS at a time): converge, idempotence, verify
	$(PYTHON) -m tests.support.suites $(addprefix molecule-,$(MOLECULE_ORDER))

.PHONY: bench-converge
bench-converge: venv ## Cold and re-run time and task counts of site.yml and of the peer role (geerlingguy.postgresql) on fresh containers, and the ratios (not a test)
	@scripts/ensure-docker.sh
	@scripts/build-base-images.sh bookworm
	$(PYTHON) -m tests.support.bench_converge --image coachdb-molecule/debian-systemd:bookworm-$(COACHDB_IMAGE_TAG) $(BENCH_CONVERGE_ARGS)

.PHONY: bench-dev
bench-dev: venv ## Print the wall and CPU time of `make dev` re-runs on this machine (BENCH_DEV_RUNS, default 3; fails on any change)
	$(PYTHON) -m tests.support.bench_dev --runs $${BENCH_DEV_RUNS:-3}

.PHONY: molecule-upgrade
molecule-upgrade: test-prereqs ## Ansible upgrade 15 -> 17 for real, each method + rollback (Molecule scenario upgrade, ~27 min; not in make test)
	COACHDB_SUITE=molecule-upgrade $(BIN)/molecule test -s upgrade

.PHONY: molecule-ha-trixie
molecule-ha-trixie: test-prereqs ## Scenario ha on Debian 13 (Patroni 4.0.7, etcd 3.5, PostgreSQL 17; not in make test)
	COACHDB_SUITE=molecule-ha-trixie COACHDB_HA_DISTRO=trixie COACHDB_HA_PG=17 $(BIN)/molecule test -s ha

.PHONY: bench-upgrade
bench-upgrade: venv ## Upgrade drill 14 -> 17 of a generated 1 GB database (COACHDB_DRILL_MODE=dump|logical)
	@scripts/os-deps.sh test
	@scripts/fetch-pg.sh 14 >/dev/null
	@scripts/fetch-pg.sh 17 >/dev/null
	$(PYTHON) -m tests.upgrade.drill --mode $${COACHDB_DRILL_MODE:-dump} --mb $${COACHDB_DRILL_MB:-1024}

.PHONY: bench-server
bench-server: venv ## pgbench with WAL archiving on vs off, idle and under CPU load; compression cost per WAL segment
	@scripts/os-deps.sh test
	$(PYTHON) -m tests.support.bench_server $(BENCH_SERVER_ARGS)

.PHONY: mutation-check
mutation-check: test-prereqs ## Apply each deliberate break (tests/mutations.yml) to a scratch copy; its tests must fail
	@$(MAKE) --no-print-directory suite-mutation-check

.PHONY: mutation-check-all
mutation-check-all: test-prereqs ## The mutation check including the breaks only Molecule catches (slow)
	$(PYTHON) -m tests.support.mutations --tier all $(MUTATION_ARGS)

.PHONY: mutmut
mutmut: venv ## mutmut over src/coachdb/versions.py with its tests ([tool.mutmut]); prints the score
	@rm -rf mutants
	$(BIN)/mutmut run --max-children 2 >/dev/null
	@$(BIN)/mutmut results 2>/dev/null
	@$(BIN)/mutmut results --all true 2>/dev/null | awk '{n++; s[$$NF]++} END { \
	  printf "mutmut: %d of %d mutants killed (%.0f%%); not killed:", s["killed"], n, 100 * s["killed"] / n; \
	  for (k in s) if (k != "killed") printf " %s=%d", k, s[k]; print "" }'

.PHONY: test-summary-reset
test-summary-reset:
	@mkdir -p .cache && : > $(COACHDB_TEST_SUMMARY)

.PHONY: test
test: test-summary-reset lint test-prereqs ## Set up everything and run every test (suites side by side)
	$(PYTHON) -m tests.support.suites --summary $(addprefix --apart=,$(TEST_APART)) $(TEST_SUITES)
	@echo "make test: all suites passed"

.PHONY: bench
bench: test-prereqs ## Print connection and pool figures (not a test)
	$(PYTHON) -m coachdb.bench $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove the virtualenv and caches (keeps Docker images)
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
