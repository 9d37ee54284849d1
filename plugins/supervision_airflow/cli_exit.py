"""``airflow`` as a command that ends as soon as its work is done.

    python -m supervision_airflow.cli_exit dags test renovation_supervision_monthly ...

runs Airflow's own command line (``airflow.__main__.main``) unchanged, waits for its threads
that are not daemons, runs the exit handlers Airflow and its libraries registered (``atexit``:
the metadata database's engine disposed, log handlers flushed), flushes standard output and
error, and leaves with ``os._exit``. What that
skips is the interpreter's own finalization: freeing, object by object, every module and
object a month's run left behind (Airflow, GX, pandas, WeasyPrint and the month's frames).
Measured after `make run` of a month (docs/benchmarks.md, issue 17 sixth part): 2.9 s at
1,000 communities, between the last task's end and the process's; it is nothing a later
reader depends on — every file and database write is closed before the exit handlers ran.

Used by scripts/run_month.sh and scripts/run_findings.sh (``make run``, ``make findings``);
the scheduler and the docker-compose deployment run Airflow as they always do.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading


def run(argv: list[str]) -> int:
    from airflow.__main__ import main  # noqa: PLC0415  (only when run as a command)

    sys.argv = ["airflow", *argv]
    try:
        code = main()
    except SystemExit as exc:       # argparse and Airflow's commands leave this way
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed, status 1, as Python does
        print(code, file=sys.stderr)
        code = 1
    return code


def finish(code: int) -> None:
    """What the interpreter does first when it exits — wait for the threads that are not
    daemons, run the exit handlers — then logging and both streams flushed, and the process
    ends with ``code``."""
    try:
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
        logging.shutdown()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):   # a closed pipe: nothing more can be said on it
                pass
        os._exit(code)


if __name__ == "__main__":
    status = 1
    try:
        status = run(sys.argv[1:])
    except KeyboardInterrupt:
        status = 130
    except BaseException:           # an uncaught error: its traceback, then status 1
        import traceback  # noqa: PLC0415

        traceback.print_exc()
        status = 1
    finally:
        finish(status)
