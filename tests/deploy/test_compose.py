"""The docker-compose deployment, checked without a Docker engine: Debian's docker-compose (v1)
validates and resolves the file with an .env made from .env.example, and the resolved services
are checked for the production topology. The image, the Airflow config and the native topology
test (test_native_topology.py) are checked against the compose file so they cannot drift apart.
"""
from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer"}
SERVICES = {"postgres", "airflow-init", "mailcatcher", *AIRFLOW_SERVICES}
MOUNTS = {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include",
          "/opt/airflow/config", "/opt/airflow/logs", "/opt/airflow/landing", "/opt/airflow/output"}


def _compose_binary() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("docker-compose is not installed; .ci/run installs it (apt-get install docker-compose)")
    pytest.skip("docker-compose (Debian package) is not installed; apt-get install docker-compose")


def _compose(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    # a clean environment: variables of the shell must not fill in for a missing .env value
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([_compose_binary(), "--project-directory", str(ROOT), "--env-file",
                           str(env_file), "-f", str(ROOT / "docker-compose.yaml"), *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory) -> Path:
    """The .env an operator makes with `make env` (deploy/new_env.py) from .env.example."""
    path = tmp_path_factory.mktemp("compose") / ".env"
    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "new_env.py"),
                             str(ROOT / ".env.example"), str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return path


def test_make_env_fills_every_secret_and_never_overwrites(env_file):
    from cryptography.fernet import Fernet

    text = env_file.read_text("utf-8")
    values = _env_values(env_file)
    assert not [k for k, v in values.items() if "CHANGE_ME" in v]
    Fernet(values["AIRFLOW_FERNET_KEY"].encode())          # a valid key, or this raises
    passwords = [values[k] for k in values if k.endswith(("PASSWORD", "SECRET", "SECRET_KEY"))]
    assert len(passwords) == 6 and len(set(passwords)) == 6
    assert all(re.fullmatch(r"[0-9a-f]{48}", p) for p in passwords)
    again = subprocess.run([sys.executable, str(ROOT / "deploy" / "new_env.py"),
                            str(ROOT / ".env.example"), str(env_file)], capture_output=True, text=True)
    assert again.returncode == 1 and "not overwritten" in again.stderr
    assert env_file.read_text("utf-8") == text


@pytest.fixture(scope="module")
def resolved(env_file) -> dict:
    result = _compose(env_file, "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _env_values(env_file: Path) -> dict[str, str]:
    out = {}
    for line in env_file.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip("'")
    return out


def test_the_compose_file_validates_with_an_env_made_from_the_example(env_file):
    result = _compose(env_file, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_without_the_secrets_the_compose_file_refuses_to_start(tmp_path):
    empty = tmp_path / ".env"
    empty.write_text("", "utf-8")
    result = _compose(empty, "config", "-q")
    assert result.returncode != 0
    assert "set" in result.stderr and "in .env" in result.stderr, result.stderr


def test_the_services_of_the_production_topology(resolved):
    services = resolved["services"]
    assert set(services) == SERVICES
    for name, command in AIRFLOW_SERVICES.items():
        s = services[name]
        assert s["command"] in (command, [command]), name
        assert s["image"] == services["airflow-init"]["image"], name
        assert Path(s["build"]["context"]) == ROOT, name
        assert s["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert s["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert {v.split(":")[1] for v in s["volumes"]} >= MOUNTS, name
    for name in SERVICES - {"airflow-init"}:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    # the scheduler's tasks talk to the api-server's execution API: it must be up first
    assert services["airflow-scheduler"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    init = services["airflow-init"]
    assert init["command"] == ["bash", "/opt/airflow/deploy/airflow-init.sh"]
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    initdb = [v for v in services["postgres"]["volumes"]
              if isinstance(v, str) and "/docker-entrypoint-initdb.d/" in v]
    assert initdb and initdb[0].startswith(f"{ROOT}/deploy/postgres-init.sh:")
    assert services["mailcatcher"]["profiles"] == ["mailcatcher"]


def test_secrets_and_databases_come_from_the_env_file(resolved, env_file):
    values = _env_values(env_file)
    env = resolved["services"]["airflow-scheduler"]["environment"]
    metadata, warehouse = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env["SUPERVISION_WAREHOUSE_URL"]
    assert metadata == (f"postgresql+psycopg://{values['AIRFLOW_DB_USER']}:{values['AIRFLOW_DB_PASSWORD']}"
                        f"@postgres:5432/{values['AIRFLOW_DB_NAME']}")
    assert warehouse == (f"postgresql+psycopg://{values['WAREHOUSE_DB_USER']}:"
                         f"{values['WAREHOUSE_DB_PASSWORD']}@postgres:5432/{values['WAREHOUSE_DB_NAME']}")
    assert values["AIRFLOW_DB_NAME"] != values["WAREHOUSE_DB_NAME"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == values["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == values["AIRFLOW_JWT_SECRET"]
    smtp = json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert smtp["conn_type"] == "smtp" and smtp["host"] == "mailcatcher"
    init_env = resolved["services"]["airflow-init"]["environment"]
    assert init_env["AIRFLOW_ADMIN_PASSWORD"] == values["AIRFLOW_ADMIN_PASSWORD"]
    # and none is written in the compose file itself
    text = (ROOT / "docker-compose.yaml").read_text("utf-8")
    for key in ("PASSWORD", "FERNET_KEY", "JWT_SECRET", "SECRET_KEY"):
        for line in text.splitlines():
            if key in line and ":" in line and not line.lstrip().startswith("#"):
                assert "${" in line or "$${" in line, f"a literal secret in docker-compose.yaml: {line}"


def test_env_is_never_committed_nor_sent_to_the_image_build():
    assert ".env" in (ROOT / ".gitignore").read_text("utf-8").split()
    ignore = [ln.strip() for ln in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert ignore == ["*", "!requirements.lock"]


def test_every_location_the_package_reads_is_set_for_the_containers(resolved):
    """SUPERVISION_* variables the domain package reads: set by the compose file or the image."""
    read = set()
    for module in ("paths.py", "settings.py"):
        source = (ROOT / "plugins" / "supervision" / module).read_text("utf-8")
        read |= set(re.findall(r'["\'](SUPERVISION_[A-Z_]+)["\']', source))
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    env = resolved["services"]["airflow-scheduler"]["environment"]
    assert read, "no SUPERVISION_ variable found in the package"
    missing = {v for v in read if v not in env and f"{v}=" not in dockerfile}
    assert not missing


def test_the_image_matches_the_lock_and_the_fonts_of_the_makefile():
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    lock = (ROOT / "requirements.lock").read_text("utf-8")
    (airflow,) = re.findall(r"^apache-airflow==(\S+)", lock, re.M)
    (base,) = re.findall(r"^ARG AIRFLOW_IMAGE=(\S+)", dockerfile, re.M)
    assert re.fullmatch(rf"apache/airflow:(slim-)?{re.escape(airflow)}-python3\.11", base), base
    assert "pip install --no-cache-dir -r /opt/airflow/requirements.lock" in dockerfile
    fonts = set(re.findall(r"fonts-[a-z0-9-]+", (ROOT / "Makefile").read_text("utf-8")))
    assert fonts and fonts <= set(re.findall(r"fonts-[a-z0-9-]+", dockerfile))


def test_the_airflow_config_is_the_production_one():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "config" / "airflow.cfg")
    assert cfg["core"]["executor"] == "LocalExecutor"
    assert cfg["core"]["auth_manager"].endswith("FabAuthManager")
    assert cfg["core"]["default_timezone"] == "Asia/Shanghai"
    assert cfg["core"].getboolean("load_examples") is False
    assert cfg["scheduler"].getboolean("enable_health_check") is True


def test_the_native_topology_sets_every_variable_the_compose_file_sets():
    """The native test must stay the compose topology: a variable added to x-airflow-common
    needs a local value in tests/deploy/native_stack.py too."""
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text("utf-8"))
    source = (ROOT / "tests" / "deploy" / "native_stack.py").read_text("utf-8")
    missing = {k for k in compose["x-airflow-common"]["environment"] if f'"{k}"' not in source}
    assert not missing, f"native_stack.py does not set {sorted(missing)}"


@pytest.mark.parametrize("script", ["airflow-init.sh", "postgres-init.sh"])
def test_the_init_scripts_parse(script):
    result = subprocess.run(["bash", "-n", str(ROOT / "deploy" / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
