#!/usr/bin/env bash
# Run (or re-run) one data month through the real DAG, locally, with `airflow dags test`.
#   scripts/run_month.sh 2020-06 <landing dir> <output dir>
# The steward's approval is marked as given (--mark-success-pattern steward_approval), as the
# operations team does for a local run. Called by `make run` / `make demo`, which set the
# Airflow environment (AIRFLOW_HOME etc.).
set -euo pipefail
month=${1:?usage: run_month.sh YYYY-MM INPUTS_DIR OUTPUT_DIR}
inputs=$(realpath "${2:?landing area}")
output=$(realpath -m "${3:?output folder}")
[[ $month =~ ^[0-9]{4}-[0-9]{2}$ ]] || { echo "MONTH must be YYYY-MM, got '$month'" >&2; exit 2; }
[[ -d $inputs ]] || { echo "no landing area at $inputs" >&2; exit 2; }

run_date=$(python -m supervision.cli run-date "$month")
conf=$(python -c 'import json, sys; print(json.dumps({"report_month": sys.argv[1], "inputs_dir": sys.argv[2], "output_dir": sys.argv[3]}))' "$month" "$inputs" "$output")
log="$AIRFLOW_HOME/logs/run_month_${month}.log"
mkdir -p "$(dirname "$log")"
echo "Running data month $month (logical date $run_date) through renovation_supervision_monthly..."
started=$(date +%s)
set +e
airflow dags test renovation_supervision_monthly "$run_date" -c "$conf" \
    --mark-success-pattern steward_approval >"$log" 2>&1
status=$?
set -e
# `airflow dags test` reports a failed task in its output; check both
if [[ $status -ne 0 ]] || grep -qE "state=failed|TaskInstanceState.FAILED|DagRunState.FAILED|dag_run_state=failed" "$log"; then
    echo "The run of $month FAILED. Last lines of $log:" >&2
    grep -E "ERROR|Error|error:|Traceback|raise |Exception" "$log" | tail -n 15 >&2 || tail -n 40 "$log" >&2
    exit 1
fi
# `dags test` starts its run at the logical date (years ago): its real start is its first task's
python -m supervision_airflow.local_run renovation_supervision_monthly "$run_date" >>"$log" 2>&1 || true
echo "Done in $(( $(date +%s) - started )) s (full log: $log)"
python -m supervision.cli summary "$output" "$month"
