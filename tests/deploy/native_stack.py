"""The docker-compose topology started natively, without Docker, for the deployment test.

What docker-compose.yaml runs as containers runs here as processes on loopback ports, with the
same settings: PostgreSQL with the two databases of ``deploy/postgres-init.sh``, the one-off
``deploy/airflow-init.sh`` (migrate, admin user), then ``airflow api-server``, ``scheduler``,
``dag-processor`` and ``triggerer`` on the deployment's ``config/airflow.cfg`` (LocalExecutor,
FAB auth manager) and the environment variables the compose file sets, with host names, ports
and folders replaced by local ones. A small SMTP server (aiosmtpd) stands in for the
mailcatcher service.

    with NativeStack(server, workdir, landing) as stack:   # server: testing_postgres.Server
        stack.start(dags=[DAG_ID])                         # every component up, the DAG parsed
        api = stack.api()                                  # authenticated httpx.Client
        ...

Start-up is sequential and each step waits on the component's own readiness, with deadlines
that stretch on a busy machine (``supervision.testing_servers.Deadline``): the SMTP stand-in
answering, the two databases, ``airflow-init``, the api-server's health endpoint (and a token
for the stack's own admin, so it is this stack's server answering), then the scheduler's,
dag-processor's and triggerer's heartbeats as the health endpoint reports them, then (``dags``)
each DAG serialised. Ports come from ``free_port`` (outside the ephemeral range); an api-server
that could not bind its port is restarted on another one. Whatever does not come up raises
``ComponentError``: the component, what was awaited, the last 30 lines of its log (every
component logs to ``stack.logs / "<name>.log"``). A failed ``start()`` stops everything it
started; ``stop()`` ends each component's whole session (task processes included).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from supervision.testing_servers import Deadline, StartupError, address_in_use, free_port

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ADMIN = ("admin", "topology-" + secrets.token_hex(8))
# a component gets SIGTERM when the process (thread) that started it dies, even by SIGKILL: no
# scheduler of a killed test run is left behind (util-linux setpriv, where installed)
DIE_WITH_PARENT = (["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else [])


@dataclass
class Component:
    name: str
    process: subprocess.Popen
    log: Path


class StackError(RuntimeError):
    pass


class ComponentError(StackError, StartupError):
    """A component did not come up or died: ``component``, ``awaited``, ``log``; the message ends
    with the last 30 lines of the log."""


HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


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
            "AIRFLOW_CONN_SMTP_DEFAULT": _smtp_connection(self.smtp_port),
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
        # the command line of each long-running component after ``airflow`` (a test may alter
        # one, e.g. to make it fail)
        self.commands = {name: [name] for name in HEALTH_KEYS}
        self._smtp = None
        self.caught_mail: list[bytes] = []

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "NativeStack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 120, dags=()) -> dict:
        """Start everything and wait until it is up (each wait: ``timeout`` seconds on a quiet
        machine, stretched by the load); with ``dags``, also until each is serialised; returns
        {dag_id: the DAG's JSON}. Raises ``ComponentError``/``StackError`` after stopping
        whatever it started."""
        try:
            self._start_smtp()
            self.init_databases()
            self.airflow_init()
            self.start_api_server(timeout)
            self.start_components(timeout=timeout)
            return {dag_id: self.wait_dag(dag_id, timeout) for dag_id in dags}
        except BaseException:
            self.stop()
            raise

    def start_components(self, names=tuple(HEALTH_KEYS), timeout: float = 120) -> None:
        """Spawn ``airflow <self.commands[name]>`` for each name (scheduler, dag-processor,
        triggerer), then await each one's heartbeat (``wait_heartbeats``)."""
        for name in names:
            self.spawn(name, self.commands[name])
        self.wait_heartbeats(timeout, names)

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

    def spawn(self, name: str, args: list[str]) -> Component:
        """Start ``airflow <args>`` in its own session, logging to ``logs/<name>.log``."""
        log = self.logs / f"{name}.log"
        with log.open("ab") as f:
            f.write(f"===== {name}: airflow {' '.join(args)} (started {time.strftime('%H:%M:%S')})"
                    f" =====\n".encode())
            f.flush()
            process = subprocess.Popen([*DIE_WITH_PARENT, AIRFLOW, *args], env=self.env,
                                       cwd=self.workdir,
                                       stdout=f, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        component = Component(name, process, log)
        self.components.append(component)
        return component

    def start_api_server(self, timeout: float = 120, attempts: int = 3) -> None:
        """The api-server, awaited on its health endpoint and on a token for this stack's admin
        (the password is this stack's own: no other server on the port could give one). If it
        could not bind its port, it is restarted on another one."""
        for attempt in range(1, attempts + 1):
            component = self.spawn("api-server", ["api-server", "--host", "127.0.0.1",
                                                  "--port", str(self.api_port)])
            awaited = (f"GET {self.base_url}/api/v2/monitor/health to answer 200 with a healthy "
                       f"metadatabase and POST /auth/token to accept the stack's admin")
            try:
                self._await(component, awaited, self._api_ready, Deadline(timeout))
                return
            except ComponentError:
                exited = _exit_code(component.process) is not None
                if not (exited and attempt < attempts
                        and address_in_use(_since_last_start(component.log))):
                    raise
            _end_session(component.process)
            self.components.remove(component)
            self._set_api_port(free_port())

    def _set_api_port(self, port: int) -> None:
        self.api_port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{self.base_url}/execution/"

    def _api_ready(self):
        try:
            r = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=10)
            if r.status_code != 200 or (r.json().get("metadatabase") or {}).get("status") != "healthy":
                return False, f"health: {r.status_code} {r.text[:300]}"
            r = httpx.post(f"{self.base_url}/auth/token", timeout=30,
                           json={"username": ADMIN[0], "password": ADMIN[1]})
            if r.status_code not in (200, 201):
                return False, f"POST /auth/token: {r.status_code} {r.text[:300]}"
            return True, "ready"
        except (httpx.HTTPError, ValueError) as exc:
            return False, repr(exc)

    def health(self) -> dict:
        """``GET /api/v2/monitor/health`` (raises ``httpx.HTTPError``)."""
        r = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=10)
        r.raise_for_status()
        return r.json()

    def wait_heartbeats(self, timeout: float = 120, names=tuple(HEALTH_KEYS)) -> None:
        """Each of ``names`` (scheduler, dag-processor, triggerer) heartbeating: its job reported
        ``healthy`` by the api-server's health endpoint (a recent heartbeat in the metadatabase).
        Every component is checked alive meanwhile."""
        by_name = {c.name: c for c in self.components}
        for name in names:
            key = HEALTH_KEYS[name]

            def beating(key=key):
                try:
                    seen = self.health().get(key) or {}
                except (httpx.HTTPError, ValueError) as exc:
                    return False, repr(exc)
                return seen.get("status") == "healthy", seen
            self._await(by_name[name], f"its heartbeat: {key}.status 'healthy' in "
                        f"GET /api/v2/monitor/health", beating, Deadline(timeout))

    def wait_healthy(self, timeout: float = 120) -> None:
        """Every component up (kept for callers of the first version): the api-server's health
        endpoint and the three heartbeats."""
        api = next(c for c in self.components if c.name == "api-server")
        self._await(api, "a healthy metadatabase and admin token", self._api_ready, Deadline(timeout))
        self.wait_heartbeats(timeout)

    def wait_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """The DAG serialised by the dag-processor (``GET /api/v2/dags/<id>`` answers 200); the
        DAG's JSON. Import errors, if any, are in the failure message."""
        api = self.api()
        processor = next(c for c in self.components if c.name == "dag-processor")

        def parsed():
            try:
                r = api.get(f"/dags/{dag_id}")
                if r.status_code == 200:
                    return True, r.json()
                errors = api.get("/importErrors").json().get("import_errors")
                return False, f"{r.status_code}; import errors: {errors}"
            except (httpx.HTTPError, ValueError) as exc:
                return False, repr(exc)

        try:
            return self._await(processor, f"DAG {dag_id} serialised (GET /api/v2/dags/{dag_id} "
                               f"answering 200)", parsed, Deadline(timeout), interval=2)
        finally:
            api.close()

    def _await(self, component: Component, awaited: str, probe, deadline: Deadline,
               interval: float = 1.0):
        """Call ``probe()`` → (done, last seen) until done, while every component runs."""
        while True:
            self.check_alive(waiting_for=(component, awaited))
            done, last = probe()
            if done:
                return last
            if deadline.expired():
                raise ComponentError(component.name, awaited, component.log,
                                     f"not seen after {deadline.describe()}; last seen: "
                                     f"{str(last)[:500]}")
            time.sleep(interval)

    def check_alive(self, waiting_for: tuple[Component, str] | None = None) -> None:
        """Raise ``ComponentError`` for the first component that is no longer running."""
        for c in self.components:
            code = _exit_code(c.process)
            if code is not None:
                awaited = (waiting_for[1] if waiting_for and waiting_for[0] is c
                           else "it to keep running")
                raise ComponentError(c.name, awaited, c.log, f"the process exited with {code}")

    def stop(self) -> None:
        """End every component's session (SIGTERM, 30 s, SIGKILL), then the SMTP stand-in.
        Idempotent."""
        for c in reversed(self.components):
            if _exit_code(c.process) is None:
                for pid in _session_members(c.process.pid) or [c.process.pid]:
                    with _suppress_gone():
                        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for c in self.components:
            while _exit_code(c.process) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            _end_session(c.process)      # whatever is left: task runners, uvicorn workers
        self.components.clear()
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    def log_text(self, name: str) -> str:
        """A component's log so far (``logs/<name>.log``), for waiting on a log line."""
        path = self.logs / f"{name}.log"
        return path.read_text("utf-8", errors="replace") if path.exists() else ""

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
        deadline = Deadline(timeout)
        with log.open("ab") as f:
            f.write(f"===== {name}: {' '.join(cmd)} =====\n".encode())
            f.flush()
            process = subprocess.Popen(cmd, env=env, cwd=self.workdir, stdout=f,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        try:
            while _exit_code(process) is None:
                if deadline.expired():
                    _end_session(process)
                    raise ComponentError(name, f"{' '.join(cmd[-1:])} to finish", log,
                                         f"still running after {deadline.describe()}")
                time.sleep(0.5)
        finally:
            _end_session(process)
        if process.returncode != 0:
            raise ComponentError(name, f"{' '.join(cmd[-1:])} to succeed", log,
                                 f"it exited with {process.returncode} after {deadline.elapsed:.0f} s")

    def _start_smtp(self) -> None:
        from tests.smtp_server import start_controller

        caught = self.caught_mail

        class Catcher:
            port = 0

            async def handle_DATA(self, server, session, envelope):
                caught.append(envelope.content)
                return "250 OK"

        catcher = Catcher()
        self._smtp = start_controller(catcher)     # on another port if this one was taken
        self.smtp_port = catcher.port
        self.env["AIRFLOW_CONN_SMTP_DEFAULT"] = _smtp_connection(self.smtp_port)


def poll(what: str, probe, timeout: float, stack: "NativeStack", interval: float = 2.0):
    """Call ``probe()`` (returning ``(done, seen)``) until it is done; fail with what it last saw.
    The components must stay alive meanwhile; the deadline stretches on a busy machine."""
    deadline = Deadline(timeout)
    last = None
    while not deadline.expired():
        stack.check_alive()
        done, last = probe()
        if done:
            return last
        time.sleep(interval)
    raise StackError(f"timed out after {deadline.describe()} waiting for {what}; last seen: {last}")


def steward_request_ready(stack: "NativeStack", api, dag_id: str, run_id: str):
    """A probe for :func:`poll`: the run's ``steward_approval`` request may be answered.

    Only once the task has paused AND the scheduler has taken the executor's report of the
    paused attempt. Its HITL detail exists while the task still runs (notifying the steward),
    and an answer then, or before the scheduler has seen the paused workload end, has the task
    resumed under the same try number; the late "success" of the paused workload then fails it
    ("finished with state success, but the task instance's state attribute is queued/running.
    Marking task as FAILED"; Airflow 3.3.2, issue 18). A steward takes minutes, not seconds."""
    hitl_url = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/steward_approval/-1/hitlDetails"
    pause_seen = re.compile(rf"TaskInstance Finished: dag_id={dag_id}, task_id=steward_approval, "
                            rf"run_id={re.escape(run_id)},[^\n]*state=awaiting_input")

    def probe():
        run = api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()
        if run.get("state") == "failed":
            raise StackError(f"the run failed before the approval: {run}\n{stack.diagnostics()}")
        ti = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/steward_approval").json()
        r = api.get(hitl_url)
        handled = pause_seen.search(stack.log_text("scheduler")) is not None
        if r.status_code == 200 and ti.get("state") == "awaiting_input" and handled:
            return True, r.json()
        return False, (run.get("state"), ti.get("state"), r.status_code, r.text[:200],
                       f"scheduler saw the paused attempt end: {handled}")

    return probe


def _smtp_connection(port: int) -> str:
    return ('{"conn_type": "smtp", "host": "127.0.0.1", "port": %d, '
            '"extra": {"disable_ssl": true, "disable_tls": true}}' % port)


@contextmanager
def running_stack(server, workdir: Path, landing: Path, dags=(), timeout: float = 120):
    """A started ``NativeStack`` (every component up, ``dags`` serialised), stopped after.
    For a module fixture, wrap it in ``supervision.testing_servers.ReportOnce`` so a failure
    is reported once:

        _STACK = ReportOnce("the native stack", fixture="stack")

        @pytest.fixture(scope="module")
        def stack(postgres_server, sample_landing, tmp_path_factory):
            with ExitStack() as cleanup:
                with _STACK.starting():
                    stack = cleanup.enter_context(running_stack(
                        postgres_server, tmp_path_factory.mktemp("stack"), sample_landing,
                        dags=["renovation_supervision_monthly"]))
                yield stack
    """
    stack = NativeStack(server, workdir, landing)
    try:
        stack.start(timeout=timeout, dags=dags)
        yield stack
    finally:
        stack.stop()


def _exit_code(process: subprocess.Popen) -> int | None:
    """The exit code if ``process`` has ended, without reaping it (its pid, the session id of
    its descendants, stays taken until ``_end_session`` has killed them)."""
    if process.returncode is not None:
        return process.returncode
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return process.poll()
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _since_last_start(log: Path) -> str:
    text = log.read_text("utf-8", errors="replace") if log.exists() else ""
    return text.rsplit("\n===== ", 1)[-1]


def _session_members(sid: int) -> list[int]:
    """The processes of session ``sid`` (every descendant of a component started in a new
    session, also those that moved to their own process group, as Airflow's task runners do)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:          # fields after "(comm)": state ppid pgrp session …
            members.append(int(stat.parent.name))
    return members


def _end_session(process: subprocess.Popen, grace: float = 0) -> None:
    """SIGTERM the session of ``process`` (started with ``start_new_session``), wait up to
    ``grace`` seconds, SIGKILL what is left, reap ``process``."""
    if grace and _exit_code(process) is None:
        for pid in _session_members(process.pid) or [process.pid]:
            with _suppress_gone():
                os.kill(pid, signal.SIGTERM)
        waited = time.monotonic() + grace
        while _exit_code(process) is None and time.monotonic() < waited:
            time.sleep(0.2)
    for _ in range(2):                   # twice: a member may have forked meanwhile
        for pid in _session_members(process.pid):
            with _suppress_gone():
                os.kill(pid, signal.SIGKILL)
    with _suppress_gone():
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class _suppress_gone:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, (ProcessLookupError, PermissionError))


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
