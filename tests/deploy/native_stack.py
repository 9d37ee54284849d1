"""The docker-compose topology started natively, without Docker, for the deployment test.

What docker-compose.yaml runs as containers runs here as processes on loopback ports, with the
same settings: PostgreSQL with the two databases of ``deploy/postgres-init.sh``, the one-off
``deploy/airflow-init.sh`` (migrate, admin user), then ``airflow api-server``, ``scheduler``,
``dag-processor`` and ``triggerer`` on the deployment's ``config/airflow.cfg`` (LocalExecutor,
FAB auth manager) and the environment variables the compose file sets, with host names, ports
and folders replaced by local ones. A small SMTP server (aiosmtpd) stands in for the
mailcatcher service.

    with NativeStack(server, workdir, landing) as stack:   # server: testing_postgres.Server
        stack.start()
        api = stack.api()                                  # authenticated httpx.Client
        ...
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from supervision.testing_postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ADMIN = ("admin", "topology-" + secrets.token_hex(8))


@dataclass
class Component:
    name: str
    process: subprocess.Popen
    log: Path


class StackError(RuntimeError):
    pass


@dataclass
class NativeStack:
    server: object                      # supervision.testing_postgres.Server
    workdir: Path
    landing: Path
    airflow_db: str = "topology_airflow"
    warehouse_db: str = "topology_warehouse"
    components: list[Component] = field(default_factory=list)

    def __post_init__(self):
        from cryptography.fernet import Fernet

        self.home = self.workdir / "airflow_home"
        self.output = self.workdir / "output"
        self.logs = self.workdir / "component_logs"
        for d in (self.home, self.output, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.smtp_port = free_port()
        self.db_password = secrets.token_hex(12)
        host, port = self.server.host, self.server.port
        self.airflow_db_url = (f"postgresql+psycopg://topology_airflow:{self.db_password}"
                               f"@{host}:{port}/{self.airflow_db}")
        self.warehouse_url = (f"postgresql+psycopg://topology_warehouse:{self.db_password}"
                              f"@{host}:{port}/{self.warehouse_db}")
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("AIRFLOW", "SUPERVISION_", "_AIRFLOW"))}
        self.env = {
            **inherited,
            # --- what docker-compose.yaml's x-airflow-common sets, with local hosts and folders
            "AIRFLOW_CONFIG": str(ROOT / "config" / "airflow.cfg"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.airflow_db_url,
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW_CONN_SMTP_DEFAULT": (
                '{"conn_type": "smtp", "host": "127.0.0.1", "port": %d, '
                '"extra": {"disable_ssl": true, "disable_tls": true}}' % self.smtp_port),
            "SUPERVISION_WAREHOUSE_URL": self.warehouse_url,
            "SUPERVISION_INPUTS_DIR": str(self.landing),
            "SUPERVISION_OUTPUT_DIR": str(self.output),
            "SUPERVISION_OUTBOX_DIR": str(self.output / "outbox"),
            "SUPERVISION_SENDER": "renovation-supervision@example.gov.cn",
            "SUPERVISION_DELIVERY": "smtp",
            "SUPERVISION_SMTP_CONN_ID": "smtp_default",
            "SUPERVISION_OUTPUT_BASE_URL": "",
            "AIRFLOW__API__BASE_URL": self.base_url,   # compose: AIRFLOW_BASE_URL
            "TZ": "Asia/Shanghai",
            "SUPERVISION_STEWARD_EMAIL": "data-steward@example.gov.cn",
            "SUPERVISION_STEWARD_USERS": "",
            # --- what the image and its mounts give a container (Dockerfile ENV, /opt/airflow)
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "PYTHONPATH": str(ROOT / "plugins"),
            "SUPERVISION_INCLUDE_DIR": str(ROOT / "include"),
            "GX_ANALYTICS_ENABLED": "False",
            "PATH": f"{Path(AIRFLOW).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            # --- only here: one machine shared with other test runs
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # the test triggers its own run; the schedule must not add runs of today's month
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }
        self._smtp = None
        self.caught_mail: list[bytes] = []

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "NativeStack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 180) -> None:
        self._start_smtp()
        self.init_databases()
        self.airflow_init()
        self.spawn("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port)])
        self.spawn("scheduler", ["scheduler"])
        self.spawn("dag-processor", ["dag-processor"])
        self.spawn("triggerer", ["triggerer"])
        self.wait_healthy(timeout)

    def init_databases(self) -> None:
        """deploy/postgres-init.sh, as the postgres image runs it on an empty volume."""
        psql = shutil.which("psql")
        if psql is None:
            raise StackError("psql (postgresql-client) is not installed")
        env = {**self.env, "POSTGRES_USER": self.server.user, "PGHOST": self.server.host,
               "PGPORT": str(self.server.port),
               "AIRFLOW_DB_USER": "topology_airflow", "AIRFLOW_DB_PASSWORD": self.db_password,
               "AIRFLOW_DB_NAME": self.airflow_db,
               "WAREHOUSE_DB_USER": "topology_warehouse", "WAREHOUSE_DB_PASSWORD": self.db_password,
               "WAREHOUSE_DB_NAME": self.warehouse_db}
        import psycopg

        with psycopg.connect(host=self.server.host, port=self.server.port, user=self.server.user,
                             dbname="postgres", autocommit=True) as conn:
            for db in (self.airflow_db, self.warehouse_db):   # a rerun on a kept server
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self._run("postgres-init", ["bash", str(ROOT / "deploy" / "postgres-init.sh")], env, 60)

    def airflow_init(self) -> None:
        """deploy/airflow-init.sh, as the airflow-init service runs it."""
        env = {**self.env, "AIRFLOW_ADMIN_USERNAME": ADMIN[0], "AIRFLOW_ADMIN_PASSWORD": ADMIN[1]}
        self._run("airflow-init", ["bash", str(ROOT / "deploy" / "airflow-init.sh")], env, 300)

    def spawn(self, name: str, args: list[str]) -> None:
        log = self.logs / f"{name}.log"
        with log.open("ab") as f:
            process = subprocess.Popen([AIRFLOW, *args], env=self.env, cwd=self.workdir,
                                       stdout=f, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.components.append(Component(name, process, log))

    def wait_healthy(self, timeout: float) -> None:
        """The api-server answers its health endpoint and reports a healthy metadatabase,
        scheduler, dag processor and triggerer (each writes heartbeats to PostgreSQL)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                r = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
                last = r.json() if r.status_code == 200 else r.text
                if r.status_code == 200 and all(
                        (last.get(k) or {}).get("status") == "healthy"
                        for k in ("metadatabase", "scheduler", "dag_processor", "triggerer")):
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(2)
        raise StackError(f"the stack did not become healthy in {timeout:.0f} s; last health: {last}")

    def check_alive(self) -> None:
        for c in self.components:
            if c.process.poll() is not None:
                raise StackError(f"{c.name} exited with {c.process.returncode}")

    def stop(self) -> None:
        for c in reversed(self.components):
            if c.process.poll() is None:
                try:
                    os.killpg(c.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for c in self.components:
            try:
                c.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # whatever the component left in its process group (task runners, gunicorn workers)
            try:
                os.killpg(c.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            c.process.wait()
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    # --- the REST API ----------------------------------------------------------------------
    def api(self) -> httpx.Client:
        """A client of the REST API v2 with a token of the admin user (FAB auth manager)."""
        r = httpx.post(f"{self.base_url}/auth/token",
                       json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=60)
        if r.status_code not in (200, 201):
            raise StackError(f"POST /auth/token: {r.status_code} {r.text[:500]}")
        token = r.json()["access_token"]
        return httpx.Client(base_url=f"{self.base_url}/api/v2", timeout=60,
                            headers={"Authorization": f"Bearer {token}"})

    # --- diagnostics -----------------------------------------------------------------------
    def diagnostics(self, lines: int = 40) -> str:
        """The tail of every component's log and of every task log, for a failure message."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            parts.append(_tail(log, lines))
        for log in sorted((self.home / "logs").rglob("*.log")):
            if "dag_id=" in str(log):    # task logs (JSON lines): the errors and the end
                text = log.read_text("utf-8", errors="replace").splitlines()
                errors = [t for t in text if '"level":"error"' in t or '"level":"critical"' in t]
                parts.append(f"----- {log} (errors, then the last 5 lines) -----\n"
                             + "\n".join(errors[-lines:] + text[-5:]))
        return "\n".join(parts)

    # --- helpers ---------------------------------------------------------------------------
    def _run(self, name: str, cmd: list[str], env: dict, timeout: float) -> None:
        log = self.logs / f"{name}.log"
        with log.open("ab") as f:
            result = subprocess.run(cmd, env=env, cwd=self.workdir, stdout=f,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    timeout=timeout)
        if result.returncode != 0:
            raise StackError(f"{name} failed with {result.returncode} (log: {log})")

    def _start_smtp(self) -> None:
        from aiosmtpd.controller import Controller

        caught = self.caught_mail

        class Catcher:
            async def handle_DATA(self, server, session, envelope):
                caught.append(envelope.content)
                return "250 OK"

        self._smtp = Controller(Catcher(), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text("utf-8", errors="replace").splitlines()[-lines:]
    except OSError as exc:
        text = [f"(unreadable: {exc})"]
    return f"----- {path} (last {lines} lines) -----\n" + "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.deploy.native_stack [WORKDIR]``: the stack on the sample landing area, left
    running until Ctrl-C, for trying the runbook's API and CLI commands without Docker. Writes
    WORKDIR/stack.env: ``set -a; . WORKDIR/stack.env; set +a`` makes ``airflow …`` talk to it."""
    import argparse
    import shlex
    import tempfile

    sys.path.insert(0, str(ROOT / "plugins"))
    from supervision.sample_data import generate
    from supervision.testing_postgres import throwaway_postgres

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("workdir", nargs="?", type=Path)
    args = parser.parse_args(argv)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="native-stack-"))).resolve()
    landing = workdir / "landing"
    if not (landing / "exports").is_dir():
        generate(landing)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with throwaway_postgres() as server, NativeStack(server, workdir, landing) as stack:
        stack.start()
        own = {k: v for k, v in stack.env.items() if os.environ.get(k) != v}
        (workdir / "stack.env").write_text(
            "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(own.items())), "utf-8")
        print(f"Airflow UI and API: {stack.base_url}  (user {ADMIN[0]}, password {ADMIN[1]})\n"
              f"landing area:       {landing}\noutput:             {stack.output}\n"
              f"warehouse:          {stack.warehouse_url}\n"
              f"CLI:                set -a; . {workdir / 'stack.env'}; set +a\n"
              f"component logs:     {stack.logs}\nCtrl-C stops everything.", flush=True)
        try:
            while not stop:
                stack.check_alive()
                time.sleep(2)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
