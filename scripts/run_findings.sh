#!/usr/bin/env bash
# Process one data month's spot-check findings (landing area: spot_checks/<YYYY-MM>.xlsx) through
# the real DAG, locally, with `airflow dags test`:
#   scripts/run_findings.sh 2020-06 <landing dir> <output dir>
# As for `make run`, the steward's approval is marked as given (--mark-success-pattern
# steward_approval). Called by `make findings`, which sets the Airflow environment.
set -euo pipefail
month=${1:?usage: run_findings.sh YYYY-MM INPUTS_DIR OUTPUT_DIR}
inputs=$(realpath "${2:?landing area}")
output=$(realpath -m "${3:?output folder}")
[[ $month =~ ^[0-9]{4}-[0-9]{2}$ ]] || { echo "MONTH must be YYYY-MM, got '$month'" >&2; exit 2; }
[[ -d $inputs ]] || { echo "no landing area at $inputs" >&2; exit 2; }

run_date=$(python -m supervision.cli run-date "$month")
conf=$(python -c 'import json, sys; print(json.dumps({"report_month": sys.argv[1], "inputs_dir": sys.argv[2], "output_dir": sys.argv[3]}))' "$month" "$inputs" "$output")
log="$AIRFLOW_HOME/logs/run_findings_${month}.log"
mkdir -p "$(dirname "$log")"
echo "Processing the spot-check findings of $month through renovation_spot_check_findings..."
set +e
# `airflow`, ended without the interpreter's finalization (2-3 s): supervision_airflow/cli_exit.py
python -m supervision_airflow.cli_exit dags test renovation_spot_check_findings "$run_date" -c "$conf" \
    --mark-success-pattern steward_approval >"$log" 2>&1
status=$?
set -e
if [[ $status -ne 0 ]] || grep -qE "state=failed|TaskInstanceState.FAILED|DagRunState.FAILED|dag_run_state=failed" "$log"; then
    echo "The findings of $month FAILED. Last lines of $log:" >&2
    grep -E "ERROR|Error|error:|Traceback|raise |Exception" "$log" | tail -n 15 >&2 || tail -n 40 "$log" >&2
    exit 1
fi
folder="$output/$month/spot_checks"
echo "Done (full log: $log). Findings in $folder:"
cat "$folder/findings_note.md"
