#!/usr/bin/env bash
# Run (or re-run) one data month through the real DAG, locally, with `airflow dags test`.
#   scripts/run_month.sh 2020-06 <landing dir> <output dir>
# Environment: SEND=no runs the month without sending (and without recipients.csv);
# APPROVED_BY=<name> names the data steward who approved the month — required when the run
# would mail over SMTP (SUPERVISION_DELIVERY=smtp), and recorded in steward_approvals. The
# steward_approval task is marked as given (--mark-success-pattern steward_approval): for the
# outbox default as the operations team does for a local run, for SMTP only with APPROVED_BY.
# One run at a time per Airflow home (a lock file, flock). Called by `make run` / `make demo`,
# which set the Airflow environment (AIRFLOW_HOME etc.).
set -euo pipefail
month=${1:?usage: run_month.sh YYYY-MM INPUTS_DIR OUTPUT_DIR}
inputs=$(realpath "${2:?landing area}")
output=$(realpath -m "${3:?output folder}")
[[ $month =~ ^[0-9]{4}-[0-9]{2}$ ]] || { echo "MONTH must be YYYY-MM, got '$month'" >&2; exit 2; }
[[ -d $inputs ]] || { echo "no landing area at $inputs" >&2; exit 2; }
send=${SEND:-yes}
case "${send,,}" in
    yes|true|1) send=true ;;
    no|false|0) send=false ;;
    *) echo "SEND must be yes or no, got '$send'" >&2; exit 2 ;;
esac
approved_by=${APPROVED_BY:-}
if [[ $send == true && ${SUPERVISION_DELIVERY:-outbox} == smtp && -z ${approved_by// /} ]]; then
    echo "refused: SUPERVISION_DELIVERY=smtp would mail the cities, and nothing reaches a city before the data steward approves." >&2
    echo "  Run the month without sending first (make run MONTH=$month SEND=no), let the steward read its quality_report.html," >&2
    echo "  then name who approved it: make run MONTH=$month APPROVED_BY=<name> (recorded in steward_approvals)." >&2
    exit 2
fi

# one `make run` at a time on this Airflow home: two share its SQLite metadata database and
# fail each other (FOREIGN KEY constraint failed)
mkdir -p "$AIRFLOW_HOME"
lock="$AIRFLOW_HOME/run_month.lock"
exec 9>>"$lock"
if ! flock -n 9; then
    echo "refused: another make run is in progress on $AIRFLOW_HOME ($(cat "$lock" 2>/dev/null | head -1)); wait for it to end, then run again" >&2
    exit 3
fi
printf 'month %s, pid %s, started %s\n' "$month" "$$" "$(date -u +%FT%TZ)" >"$lock"

run_date=$(python -m supervision.cli run-date "$month")
conf=$(python -c 'import json, sys; print(json.dumps({"report_month": sys.argv[1], "inputs_dir": sys.argv[2], "output_dir": sys.argv[3], "send": sys.argv[4] == "true"}))' "$month" "$inputs" "$output" "$send")
log="$AIRFLOW_HOME/logs/run_month_${month}.log"
mkdir -p "$(dirname "$log")"
if [[ $send == true && ${SUPERVISION_DELIVERY:-outbox} == smtp ]]; then
    python -m supervision.make_run approve "$month" --by "$approved_by" --run-id "make-run:$month:$(date -u +%FT%TZ)"
fi
echo "Running data month $month (logical date $run_date, send: $send) through renovation_supervision_monthly..."
started=$(date +%s)
# while Airflow starts (several seconds before its first task), a second process parses the
# month's plan and snapshot into the run's cache; the ingest task waits for it and reads the
# result (plugins/supervision/ingest.py load_export_cached). SUPERVISION_PREWARM=no turns it off.
prewarm_pid=
if [[ ${SUPERVISION_PREWARM:-yes} != no ]]; then
    python -m supervision.cli prewarm "$month" "$inputs" "$output" >"$log.prewarm" 2>&1 &
    prewarm_pid=$!
fi
set +e
# `airflow`, ended without the interpreter's finalization (2-3 s): supervision_airflow/cli_exit.py
python -m supervision_airflow.cli_exit dags test renovation_supervision_monthly "$run_date" -c "$conf" \
    --mark-success-pattern steward_approval >"$log" 2>&1
status=$?
[[ -n $prewarm_pid ]] && wait "$prewarm_pid"
[[ -f $log.prewarm ]] && { cat "$log.prewarm" >>"$log"; rm -f "$log.prewarm"; }
set -e
# `airflow dags test` reports a failed task in its output; check both
if [[ $status -ne 0 ]] || grep -qE "state=failed|TaskInstanceState.FAILED|DagRunState.FAILED|dag_run_state=failed" "$log"; then
    # the product's own error as the first line (file, row, column), the log below it
    if message=$(python -m supervision.make_run first-error "$log"); then
        echo "$message" >&2
    else
        echo "The run of $month FAILED (no error of the product's in the log; its last lines follow)." >&2
        tail -n 15 "$log" >&2
    fi
    echo "  run of $month failed; full log: $log" >&2
    exit 1
fi
echo "Done in $(( $(date +%s) - started )) s (full log: $log)"
python -m supervision.cli summary "$output" "$month"
