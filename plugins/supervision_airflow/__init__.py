"""The Airflow side of the monthly DAG: what its tasks need from Airflow (the run's context, the
SMTP connection, the human-in-the-loop approval, task failure vs retry), kept out of the domain
package (which imports no Airflow) and out of the DAG file (which stays thin).

Imported by ``dags/renovation_supervision_monthly.py`` only; ``plugins/.airflowignore`` keeps the
plugin loader from importing these files as plugins. Nothing heavy at module top.
"""
from __future__ import annotations

from typing import Any


def run_settings(context: Any):
    """The run's settings, derived from its conf and data interval (never from the clock)."""
    from supervision.settings import RunSettings  # noqa: PLC0415

    dag_run = context["dag_run"]
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    conf = {k: v for k, v in (dag_run.conf or {}).items() if v is not None}
    return RunSettings.resolve(conf, context.get("data_interval_start"),
                               is_backfill=run_type == "backfill")


def ui_base_url() -> str:
    """The api-server's base URL (``[api] base_url``), for absolute links to the UI and to the
    month folders (``plugins/supervision_ui.py``); ``http://localhost:<[api] port>`` (what
    ``airflow standalone`` serves) when it is not configured."""
    from airflow.configuration import conf  # noqa: PLC0415

    base = conf.get("api", "base_url", fallback=None)
    if base:
        return base.rstrip("/")
    return f"http://localhost:{conf.get('api', 'port', fallback='8080')}"
