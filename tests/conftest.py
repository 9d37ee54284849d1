"""Test-session setup: an isolated Airflow home (SQLite in a temp folder) configured before
anything imports Airflow, and shared fixtures (the sample landing area, a warehouse URL)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from supervision.testing_servers import ReportOnce

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="supervision-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "GX_ANALYTICS_ENABLED": "False",
    "SUPERVISION_SEND_PAUSE_SECONDS": "0",   # delivery passes without pauses (SendBudget)
    # the suite renders many months on a busy machine: one PDF process each, except where a
    # test asks for the default's 2 (tests/dags/test_end_to_end.py, test_documents.py)
    "SUPERVISION_PDF_WORKERS": "1",
})
# the warehouse of a test is its own; never the demo's var/warehouse.db
os.environ.pop("SUPERVISION_WAREHOUSE_URL", None)
os.environ.pop("SUPERVISION_OUTBOX_DIR", None)


def _drop_task_context() -> None:
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CTX_")]:
        del os.environ[key]


@pytest.fixture(autouse=True)
def _no_task_context_left_behind():
    """Airflow's task runner exports the running task's context into ``os.environ``
    (``AIRFLOW_CTX_DAG_RUN_ID``, ``AIRFLOW_CTX_TRY_NUMBER``, …) and never removes it; the
    ``dag.test()`` runs of tests/dags run their tasks in this process, so every later test,
    and every process it starts, would look as if inside that task (a send's claim then reads
    "pid N, run manual__… try 1"). Removed before each test (also what a module fixture's
    ``dag.test()`` left) and after it."""
    _drop_task_context()
    yield
    _drop_task_context()


@pytest.fixture(scope="session")
def sample_landing(tmp_path_factory) -> Path:
    """The sample landing area (1,000 communities, May 2020 – January 2021), generated once."""
    from supervision.sample_data import generate

    folder = tmp_path_factory.mktemp("landing")
    generate(folder)
    return folder


@pytest.fixture()
def warehouse_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", url)
    return url


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database in the session's Airflow home."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy(), timeout=600)
    return _AIRFLOW_HOME


_POSTGRES = ReportOnce("the throwaway PostgreSQL server (supervision/testing_postgres.py)",
                       fixture="postgres_server")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """A shared server that did not start is reported by the first test needing it; the others
    are skipped with a pointer to it (supervision.testing_servers.ReportOnce)."""
    ReportOnce.current_test = item.nodeid
    for shared in ReportOnce.registry:
        shared.skip_if_failed(item)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL 15 server started from the installed binaries for this session
    (as the postgres user when the tests run as root)."""
    from contextlib import ExitStack

    from supervision.testing_postgres import throwaway_postgres

    with ExitStack() as stack:
        with _POSTGRES.starting():
            server = stack.enter_context(throwaway_postgres())
        yield server


@pytest.fixture()
def smtp_server():
    """A local SMTP server (aiosmtpd) recording what it accepts (``tests/smtp_server.py``)."""
    from tests.smtp_server import local_smtp

    with local_smtp() as server:
        yield server


@pytest.fixture(scope="session")
def rendered_june(sample_landing, tmp_path_factory):
    """Data month 2020-06 of the sample data run through every stage but sending, once per
    session: the documents delivery tests send (their settings: warehouse of the render)."""
    from supervision import pipeline
    from tests.fixtures.runs import month_settings, warehouse_env

    out = tmp_path_factory.mktemp("june")
    with warehouse_env(f"sqlite:///{out / 'render.db'}"):
        s = month_settings(sample_landing, out)
        pipeline.run_month(s, approve=False)
    return s
