"""supervision_airflow.cli_exit: Airflow's command line, its status and output kept, without
the interpreter's finalization."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, airflow_home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "AIRFLOW_HOME": str(airflow_home)}
    return subprocess.run([sys.executable, "-m", "supervision_airflow.cli_exit", *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.airflow
def test_a_command_succeeds_and_its_piped_output_arrives(airflow_db):
    done = _run("version", airflow_home=airflow_db)
    assert done.returncode == 0, done.stderr
    import airflow

    assert done.stdout.strip() == airflow.__version__


@pytest.mark.airflow
def test_a_refused_command_keeps_its_status_and_message(airflow_db):
    done = _run("dags", "no-such-subcommand", airflow_home=airflow_db)
    assert done.returncode == 2                       # argparse's refusal, as `airflow` gives
    assert "no-such-subcommand" in done.stderr


@pytest.mark.airflow
def test_a_failing_dag_test_exits_non_zero(airflow_db):
    done = _run("dags", "test", "no_such_dag", "2020-07-02", airflow_home=airflow_db)
    assert done.returncode != 0
    assert "no_such_dag" in done.stdout + done.stderr
