"""After ``airflow dags test`` (``make run`` / ``make demo``, scripts/run_month.sh).

``dag.test()`` gives its run the *logical date* as start date (Airflow 3.3,
``airflow/sdk/definitions/dag.py``), so a month run today for July 2020 shows a duration of
years and spoils the UI's duration charts. The run really started when its first task did:
that is written back here. Its run note is the listener's (``run_notes``).

    python -m supervision_airflow.local_run <dag_id> <logical date ISO>
"""
from __future__ import annotations

import sys


def fix_start_date(dag_id: str, logical_date: str) -> str | None:
    """Set the start date of the ``dags test`` run of ``logical_date`` to its first task's start;
    returns the run id (None when there is no such run)."""
    from airflow.models.dagrun import DagRun  # noqa: PLC0415
    from airflow.models.taskinstance import TaskInstance as TI  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415
    from sqlalchemy import func, select  # noqa: PLC0415

    from airflow.sdk import timezone  # noqa: PLC0415

    when = timezone.parse(logical_date)   # a bare date is in [core] default_timezone, as for dags test
    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id,
                                                   DagRun.logical_date == when)).first()
        if run is None:
            return None
        first = session.scalar(select(func.min(TI.start_date)).where(
            TI.dag_id == dag_id, TI.run_id == run.run_id))
        if first is not None and (run.start_date is None or run.start_date < first):
            run.start_date = first
        return run.run_id


if __name__ == "__main__":
    run_id = fix_start_date(sys.argv[1], sys.argv[2])
    print(f"run {run_id}: start date set to its first task's start" if run_id else "no run found")
