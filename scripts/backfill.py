"""Backfill a range of data months through Airflow, in one command (what `make backfill` runs).

    python scripts/backfill.py --from 2020-05 --to 2020-12 --inputs var/landing --output output

`airflow backfill create` only queues runs; the scheduler and the API server must run to execute
them. This script, with the Airflow environment the Makefile sets (AIRFLOW_HOME=.airflow, ...):

1. parses the DAG into the metadata database (`airflow dags reserialize`);
2. starts `airflow standalone` (scheduler, dag-processor, API server, triggerer) in its own
   process group, on a free port, logging to .airflow/logs/backfill-standalone.log;
3. unpauses the DAG (the timetable schedules nothing for past programme years, so only the
   backfill runs), creates the backfill for the data intervals of the months FROM..TO, one run
   at a time, with the landing area and output folder in the run conf;
4. waits for the backfill to complete, stops what it started (SIGINT, then SIGTERM/SIGKILL to
   the process group), restores the DAG's paused state, and reports each month.

Backfilled runs render every document but send nothing (run type backfill: `send` defaults to
false), so they do not wait for the steward's approval. `--send` asks them to send; then each
month's approval waits for the steward in the Airflow UI at the printed address.
Exit status: 0 when every month succeeded.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

DAG_ID = "renovation_supervision_monthly"


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["airflow", *args], env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"airflow standalone exited early (status {process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"the API server did not come up on port {port} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """Stop standalone and everything it started: SIGINT (it stops its components), then the
    process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        time.sleep(3)


def month_bounds(first: str, last: str) -> tuple[str, str]:
    """--from-date/--to-date of `airflow backfill create`: the start of the first and the last
    month's data interval (logical dates are data interval starts, in the schedule's timezone)."""
    from supervision.months import Month
    from supervision.schedule import PublicationSchedule

    schedule = PublicationSchedule.from_config()
    a, b = Month.parse(first), Month.parse(last)
    if b < a:
        raise SystemExit(f"TO ({last}) is before FROM ({first})")
    return (schedule.data_interval(a)[0].isoformat(), schedule.data_interval(b)[0].isoformat())


def paused() -> bool | None:
    """Whether the DAG is paused in the metadata database (None when it is not there)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, DAG_ID)
        return None if model is None else bool(model.is_paused)


def backfill_runs(backfill_id: int) -> list[dict]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.backfill_id == backfill_id)
                               .order_by(DagRun.logical_date)).all()
        return [{"run_id": r.run_id, "state": str(getattr(r.state, "value", r.state)),
                 "start": r.data_interval_start, "started": r.start_date, "ended": r.end_date}
                for r in runs]


def latest_backfill(since: datetime):
    from airflow.models.backfill import Backfill
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        b = session.scalars(select(Backfill).where(Backfill.dag_id == DAG_ID)
                            .order_by(Backfill.id.desc()).limit(1)).first()
        if b is None or b.created_at.timestamp() < since.timestamp() - 5:
            return None
        return {"id": b.id, "completed_at": b.completed_at}


def wait_for(backfill_id: int, timeout: float, schedule) -> list[dict]:
    from airflow.models.backfill import Backfill
    from airflow.utils.session import create_session

    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            with create_session() as session:
                done = session.get(Backfill, backfill_id).completed_at is not None
            runs = backfill_runs(backfill_id)
        except Exception as exc:  # noqa: BLE001 - SQLite busy while the scheduler writes: retry
            log(f"  (waiting: {exc.__class__.__name__})")
            time.sleep(5)
            continue
        status = ", ".join(f"{schedule.month_of(r['start'])}:{r['state']}" for r in runs)
        if status != last:
            log(f"  {time.strftime('%H:%M:%S')} {status}")
            last = status
        if done:
            return runs
        time.sleep(5)
    raise SystemExit(f"the backfill did not complete within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="first", required=True, help="first data month YYYY-MM")
    parser.add_argument("--to", dest="last", required=True, help="last data month YYYY-MM")
    parser.add_argument("--inputs", required=True, type=Path, help="landing area")
    parser.add_argument("--output", required=True, type=Path, help="output folder")
    parser.add_argument("--send", action="store_true", help="let the backfilled runs send (after approval)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the runs")
    args = parser.parse_args(argv)

    home = Path(os.environ["AIRFLOW_HOME"])
    inputs, output = args.inputs.resolve(), args.output.resolve()
    if not inputs.is_dir():
        raise SystemExit(f"no landing area at {inputs}")
    from_date, to_date = month_bounds(args.first, args.last)
    from supervision.schedule import PublicationSchedule

    schedule = PublicationSchedule.from_config()
    port = free_port()
    env = dict(os.environ, AIRFLOW__API__PORT=str(port), AIRFLOW__API__HOST="127.0.0.1",
               AIRFLOW__API__BASE_URL=f"http://localhost:{port}")
    started = time.monotonic()
    log(f"Backfilling data months {args.first}..{args.last} of {DAG_ID} "
        f"(inputs {inputs}, output {output})")
    airflow("dags", "reserialize", env=env)
    was_paused = paused()

    logfile = home / "logs" / "backfill-standalone.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("wb") as out:
        process = subprocess.Popen(["airflow", "standalone"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    log(f"Started airflow standalone (pid {process.pid}, API server http://localhost:{port}, "
        f"log {logfile})")
    runs, ok = [], False
    try:
        wait_for_port(port, process, timeout=240)
        airflow("dags", "unpause", DAG_ID, env=env)
        conf = {"inputs_dir": str(inputs), "output_dir": str(output)}
        if args.send:
            conf["send"] = True
        since = datetime.now()
        create = ("backfill", "create", "--dag-id", DAG_ID, "--from-date", from_date,
                  "--to-date", to_date, "--max-active-runs", "1",
                  "--reprocess-behavior", "completed", "--dag-run-conf", json.dumps(conf))
        for attempt in range(1, 6):
            # On the embedded SQLite metadata database the scheduler, just started, may hold the
            # write lock while the CLI inserts the runs; Airflow then removes the partly created
            # backfill (models/backfill.py, _cleanup_partial_backfill), so it is tried again.
            created = airflow(*create, env=env, check=False)
            if created.returncode == 0:
                break
            if "database is locked" not in created.stdout + created.stderr or attempt == 5:
                raise SystemExit(f"airflow {' '.join(create)} failed:\n"
                                 f"{created.stdout[-2000:]}\n{created.stderr[-4000:]}")
            log(f"The metadata database was locked (attempt {attempt}); trying again in 5 s")
            time.sleep(5)
        backfill = latest_backfill(since)
        if backfill is None:
            raise SystemExit(f"no backfill was created:\n{created.stdout[-2000:]}")
        log(f"Backfill {backfill['id']} created; waiting for its runs (one at a time)...")
        runs = wait_for(backfill["id"], args.timeout, schedule)
        ok = bool(runs) and all(r["state"] == "success" for r in runs)
    finally:
        if was_paused is not False:
            airflow("dags", "pause", DAG_ID, env=env, check=False)
        stop(process)
        log(f"Stopped airflow standalone (pid {process.pid})")

    log(f"Done in {time.monotonic() - started:.0f} s: {len(runs)} months, "
        f"{sum(r['state'] == 'success' for r in runs)} succeeded")
    for r in runs:
        month = str(schedule.month_of(r["start"]))
        took = (r["ended"] - r["started"]).total_seconds() if r["started"] and r["ended"] else None
        folder = output / month
        files = len(json.loads((folder / "manifest.json").read_text("utf-8"))["files"]) \
            if (folder / "manifest.json").exists() else 0
        log(f"  {month}  {r['state']:8} {f'{took:4.0f} s' if took is not None else '    -'}  "
            f"{folder} ({files} files){'' if args.send else ', nothing sent'}")
    if not ok:
        log(f"Some months did not succeed: see the Airflow task logs under {home / 'logs'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
