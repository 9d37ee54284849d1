# The operations team's commands. Everything runs from a clone: the virtualenv (.venv), the
# Airflow home (.airflow, SQLite) and the sample landing area (var/landing) live in the repo.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help install fonts sample airflow-db run findings demo backfill backfill-check test bench lint lock clean env new-year

PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
SAMPLE := $(CURDIR)/var/landing

MONTH ?= 2020-06
INPUTS ?= $(SAMPLE)
OUTPUT ?= $(CURDIR)/output

# Airflow on the embedded default: SQLite metadata database inside the repo (absolute path)
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DEFAULT_TIMEZONE := Asia/Shanghai
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := sqlite:///$(CURDIR)/.airflow/airflow.db
# INFO: the task logs show what each stage did, with counts; the libraries' own INFO noise is
# quieted by name (config/airflow.cfg's list, and plugins/supervision/__init__.py)
export AIRFLOW__LOGGING__LOGGING_LEVEL := INFO
export AIRFLOW__LOGGING__NAMESPACE_LEVELS := great_expectations=WARNING fontTools=WARNING weasyprint.progress=WARNING matplotlib=WARNING PIL=WARNING
export GX_ANALYTICS_ENABLED := False
export PYTHONPATH := $(CURDIR)/plugins
export PATH := $(BIN):$(PATH)

help:
	@echo "make demo                 run data month 2020-06 of the sample data through the DAG"
	@echo "make run MONTH=YYYY-MM INPUTS=<landing dir> OUTPUT=<dir>   run (or re-run) one month"
	@echo "    [SEND=no] without sending; [APPROVED_BY=<name>] the steward's approval, needed with SUPERVISION_DELIVERY=smtp"
	@echo "make findings MONTH=YYYY-MM INPUTS=<landing dir> OUTPUT=<dir>   a month's spot-check findings (spot_checks/<M>.xlsx)"
	@echo "make backfill FROM=YYYY-MM TO=YYYY-MM [INPUTS=.. OUTPUT=..]   backfill months through Airflow (sends nothing)"
	@echo "make backfill-check FROM=YYYY-MM TO=YYYY-MM   backfill vs single-month runs, byte for byte"
	@echo "make new-year YEAR=YYYY [FROM=YYYY] [FORCE=1]   the next programme file, dates moved, decisions marked (docs/runbook.md §5)"
	@echo "make test                 the test suite"
	@echo "make bench [SCALES='1000 30000 300000'] [FORMAT=xlsx|csv]   time a month at national scale, beside a pandas peer (docs/benchmarks.md)"
	@echo "make sample               (re)generate the sample landing area in var/landing"
	@echo "make lock                 re-resolve requirements.lock from requirements.in"
	@echo "make env                  a new .env for docker-compose, secrets generated (docs/deployment.md)"

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -r requirements.lock
	@touch $@

# CJK fonts for the PDFs (Debian/Ubuntu; installed only when missing and when we may): the free
# faces the documents are set in (docs/documents.md) and HarfBuzz's subsetter, which embeds
# them in about 0.1 s a font where fontTools needs 10+ s for the OpenType CJK faces
FONT_PACKAGES := fonts-noto-cjk fonts-arphic-gkai00mp libharfbuzz-subset0
FONT_FACES := "Noto Serif CJK SC" "Noto Sans CJK SC" "AR PL KaitiM GB"

fonts:
	@missing=; for face in $(FONT_FACES); do fc-list "$$face" 2>/dev/null | grep -q . || missing="$$missing $$face"; done; \
	ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing fonts for the documents (apt-get: $(FONT_PACKAGES))..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(FONT_PACKAGES) >/dev/null; \
	  else \
	    echo "WARNING: missing$$missing; documents fall back to other faces (or boxes) and render slowly. Install $(FONT_PACKAGES)." >&2; \
	  fi; \
	fi

sample: $(SAMPLE)/.generated

$(SAMPLE)/.generated: $(VENV)/.installed plugins/supervision/sample_data.py
	rm -rf $(SAMPLE)
	$(BIN)/python -m supervision.sample_data $(SAMPLE)
	@touch $@

airflow-db: $(AIRFLOW_HOME)/airflow.db

$(AIRFLOW_HOME)/airflow.db: $(VENV)/.installed
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate >$(AIRFLOW_HOME)/db-migrate.log 2>&1 || { tail -20 $(AIRFLOW_HOME)/db-migrate.log; exit 1; }

# SEND=no: the month without sending (no recipients.csv needed); APPROVED_BY=<name>: the data
# steward who approved the month, required to send over SMTP (SUPERVISION_DELIVERY=smtp)
run: install fonts airflow-db
	SEND="$(SEND)" APPROVED_BY="$(APPROVED_BY)" scripts/run_month.sh "$(MONTH)" "$(INPUTS)" "$(OUTPUT)"

findings: install fonts airflow-db
	scripts/run_findings.sh "$(MONTH)" "$(INPUTS)" "$(OUTPUT)"

# Backfill data months FROM..TO through Airflow (airflow standalone is started and stopped here);
# the backfilled runs render everything and send nothing. See docs/schedule-and-delivery.md.
backfill: install fonts airflow-db $(if $(filter $(SAMPLE),$(INPUTS)),sample)
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill FROM=YYYY-MM TO=YYYY-MM [INPUTS=..] [OUTPUT=..]" >&2; exit 2; }
	$(BIN)/python scripts/backfill.py --from "$(FROM)" --to "$(TO)" --inputs "$(INPUTS)" --output "$(OUTPUT)"

# Backfilled months must equal single-month runs of the same months, byte for byte.
backfill-check: install fonts airflow-db $(if $(filter $(SAMPLE),$(INPUTS)),sample)
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill-check FROM=YYYY-MM TO=YYYY-MM" >&2; exit 2; }
	rm -rf $(CURDIR)/var/out-backfill $(CURDIR)/var/out-single
	$(BIN)/python scripts/backfill.py --from "$(FROM)" --to "$(TO)" --inputs "$(INPUTS)" --output $(CURDIR)/var/out-backfill
	for m in $$($(BIN)/python -c 'import sys; from supervision.months import Month, months_between; print(*months_between(Month.parse(sys.argv[1]), Month.parse(sys.argv[2])))' "$(FROM)" "$(TO)"); do \
	  scripts/run_month.sh "$$m" "$(INPUTS)" $(CURDIR)/var/out-single >/dev/null || exit 1; done
	$(BIN)/python scripts/compare_months.py $(CURDIR)/var/out-backfill $(CURDIR)/var/out-single "$(FROM)" "$(TO)"

# The programme file of a new year from the latest earlier one (or FROM=), validated; it marks
# with '# DECIDE:' what only the year's notice can say. docs/runbook.md §5.
new-year: install
	@test -n "$(YEAR)" || { echo "usage: make new-year YEAR=YYYY [FROM=YYYY] [FORCE=1]" >&2; exit 2; }
	$(BIN)/python -m supervision.new_year --year "$(YEAR)" $(if $(FROM),--from "$(FROM)") $(if $(FORCE),--force)

demo: sample
	@$(MAKE) --no-print-directory run MONTH=2020-06 INPUTS=$(SAMPLE) OUTPUT=$(CURDIR)/output

test: install fonts
	$(BIN)/pytest

# Not part of the test suite: generates national-scale landing areas once (bench/data, ~350 MB
# for the three scales) and times a month's stages, `make run` (Airflow, whole process) and the
# pandas peer (bench/peer.py); results in bench/results, recorded in docs/benchmarks.md.
# 1,000,000 communities is opt-in: make bench SCALES="1000 30000 300000 1000000"
SCALES ?= 1000 30000 300000
# the export format of the generated landing areas (the plan is always xlsx, as filed)
FORMAT ?= xlsx
bench: install fonts airflow-db
	$(BIN)/python bench/run.py --scales $(SCALES) --format $(FORMAT)

lock:
	$(BIN)/uv pip compile requirements.in --python-version 3.11 -q -o requirements.lock

# the docker-compose deployment's .env, from .env.example with fresh secrets (never overwrites)
env:
	$(PYTHON) deploy/new_env.py .env.example .env

clean:
	rm -rf output var .airflow .pytest_cache
