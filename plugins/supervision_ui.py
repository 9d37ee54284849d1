"""The monthly supervision in Airflow's UI: registered by the plugin loader (this file is a
top-level plugin module, like ``supervision_timetable.py``).

* ``fastapi_apps``: the month folders, read-only, behind Airflow's authentication, mounted by the
  api-server at ``/supervision`` (``supervision_airflow.months_app``);
* ``external_views``: "月度数据" in the navigation (the index, inside the UI) and a "月份文件"
  tab on every run of the monthly DAG (that run's month);
* ``listeners``: the run notes (data month, snapshot, steward's decision;
  ``supervision_airflow.run_notes``).
"""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from supervision_airflow import run_notes
from supervision_airflow.months_app import URL_PREFIX, app


class SupervisionUIPlugin(AirflowPlugin):
    name = "supervision_ui"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "supervision_months"}]
    external_views = [
        {"name": "月度数据 Months", "href": f"{URL_PREFIX}/", "destination": "nav",
         "category": "browse", "url_route": "supervision_months"},
        {"name": "月份文件 Month files", "href": f"{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}",
         "destination": "dag_run", "url_route": "supervision_run_month"},
    ]
    listeners = [run_notes]
