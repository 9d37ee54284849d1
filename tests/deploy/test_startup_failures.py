"""Test servers start without port races and, when something does not come up, say which, what
was awaited and the tail of its log, once (issue 18). Fast: no whole stack is started; the failure
is induced in one real component started by the real start-up code of tests/deploy/native_stack.py.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import sys
import textwrap
import time
from pathlib import Path

import pytest

from supervision import testing_postgres, testing_servers
from supervision.testing_servers import Deadline, StartupError, address_in_use, free_port

ROOT = Path(__file__).resolve().parents[2]


def _listening(port: int) -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def test_ports_are_outside_the_ephemeral_range_free_and_never_handed_out_twice():
    low, high = testing_servers._ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(not (low <= p <= high) for p in ports)
    for p in ports[:20]:                      # bindable right now, on loopback and on all
        _listening(p).close()


def test_a_port_taken_by_an_outgoing_connection_is_why_ephemeral_ports_race():
    """The cause of the flake: a listening port picked with bind(0) comes from the range the
    kernel also gives outgoing connections; once one of them holds it, the server cannot bind."""
    with _listening(0) as server:
        client = socket.create_connection(server.getsockname())
        taken = client.getsockname()[1]
        with pytest.raises(OSError) as caught, socket.socket() as late:
            late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            late.bind(("127.0.0.1", taken))
        client.close()
    assert address_in_use(str(caught.value))


def test_deadlines_stretch_with_the_load(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (4.0 * (os.cpu_count() or 1), 0, 0))
    assert Deadline(10).allowed() == pytest.approx(40)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0, 0))
    monkeypatch.setenv("SUPERVISION_TEST_TIMEOUT_SCALE", "3")
    assert Deadline(10).allowed() == pytest.approx(30)


def test_postgresql_retries_a_port_someone_else_took(monkeypatch):
    """The first port offered is held by another listener: the server comes up on the next."""
    monkeypatch.delenv("SUPERVISION_TEST_POSTGRES", raising=False)
    occupied = _listening(free_port())
    offered = [occupied.getsockname()[1]]
    real = testing_postgres.free_port

    def first_the_occupied_one():
        return offered.pop() if offered else real()

    monkeypatch.setattr(testing_postgres, "free_port", first_the_occupied_one)
    try:
        with testing_postgres.throwaway_postgres() as server:
            assert server.port != occupied.getsockname()[1]
            import psycopg

            with psycopg.connect(host=server.host, port=server.port, user=server.user,
                                 dbname="postgres") as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        occupied.close()


def test_postgresql_that_cannot_start_names_itself_and_shows_its_log(monkeypatch):
    """Every attempt refused: the error says what was awaited and ends with the server log."""
    monkeypatch.delenv("SUPERVISION_TEST_POSTGRES", raising=False)
    occupied = _listening(free_port())
    monkeypatch.setattr(testing_postgres, "free_port", lambda: occupied.getsockname()[1])
    try:
        with pytest.raises(testing_postgres.PostgresStartupError) as caught:
            with testing_postgres.throwaway_postgres(attempts=2):
                pass
    finally:
        occupied.close()
    message = str(caught.value)
    assert message.startswith("PostgreSQL did not come up: awaited pg_ctl start on 127.0.0.1:")
    assert "(attempt 2)" in message and "last 30 lines of" in message
    assert "could not bind" in message.lower() or "address already in use" in message.lower()
    assert not Path(caught.value.log).parent.exists()    # the server's folder is removed


def test_the_smtp_stand_in_retries_a_taken_port(monkeypatch):
    from tests import smtp_server

    occupied = _listening(free_port())
    offered = [occupied.getsockname()[1]]
    real = smtp_server.free_port
    monkeypatch.setattr(smtp_server, "free_port", lambda: offered.pop() if offered else real())
    try:
        with smtp_server.local_smtp() as recorder:
            assert recorder.port != occupied.getsockname()[1]
            import smtplib

            with smtplib.SMTP("127.0.0.1", recorder.port, timeout=30) as client:
                assert client.noop()[0] == 250
    finally:
        occupied.close()


INNER_CONFTEST = """
from tests.conftest import pytest_runtest_setup  # noqa: F401  (the real ReportOnce hook)
"""

INNER_TESTS = """
import pytest

from supervision.testing_postgres import Server
from supervision.testing_servers import ReportOnce, free_port
from tests.deploy.native_stack import NativeStack

_STACK = ReportOnce("the native topology", fixture="stack")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = NativeStack(Server("127.0.0.1", free_port()), tmp_path_factory.mktemp("stack"),
                        tmp_path_factory.mktemp("landing"))
    stack.commands["triggerer"] = ["triggerer", "--capacity", "not-a-number"]   # exits at start
    with _STACK.starting():
        try:
            stack.start_components(["triggerer"], timeout=120)
        finally:
            stack.stop()
    yield stack


def test_one(stack):
    pass


def test_two(stack):
    pass


def test_three(stack):
    pass
"""


def _inner_session_env() -> dict[str, str]:
    """The inner pytest session's environment, explicit rather than the outer session's: what
    the outer one sets or inherits changes how the inner one reports (``CI``/``BUILD_NUMBER``
    and ``COLUMNS`` stop pytest truncating the short summary, ``PYTEST_ADDOPTS``/``PY_COLORS``
    change its output, ``AIRFLOW_*``/``SUPERVISION_*`` its settings, and tests that run
    Airflow tasks in-process leave ``AIRFLOW_CTX_*`` behind). Only the machine's basics, the
    deadline scale and the import path are passed; the inner conftest sets up its own Airflow
    home like the outer one."""
    keep = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "TZ",
            "SUPERVISION_TEST_TIMEOUT_SCALE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])
    return env


def test_a_component_exiting_at_start_is_named_with_its_log_tail_once(tmp_path):
    """The triggerer, started by NativeStack.start_components with a bad command, exits at
    start: the first test errors with 'triggerer did not come up', what was awaited, its exit
    code and the last 30 lines of its log; the two other tests are skipped with a pointer."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text(textwrap.dedent(INNER_CONFTEST), "utf-8")
    (inner / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS), "utf-8")
    (inner / "pytest.ini").write_text("[pytest]\n", "utf-8")   # not a config found above it
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(inner), "-q", "-rA", "-p", "no:cacheprovider",
         "--rootdir", str(inner), "--basetemp", str(tmp_path / "base"), "-s"],
        capture_output=True, text=True, env=_inner_session_env(), cwd=inner,
        timeout=Deadline(240).allowed())
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert re.search(r"\b1 error\b", out) and re.search(r"\b2 skipped\b", out), out
    # once in the report: test_one's error; test_two and test_three only point at it. The
    # short summary's ERROR line may repeat the message (untruncated on a wide terminal or
    # with CI set), so it is counted apart from the report
    report, summary = re.split(r"=+ short test summary info =+", out)
    assert report.count("triggerer did not come up") == 1, out
    assert all("triggerer did not come up" not in line
               for line in summary.splitlines() if not line.startswith("ERROR ")), out
    assert ("awaited its heartbeat: triggerer.status 'healthy' in GET /api/v2/monitor/health; "
            "the process exited with 2") in out, out
    assert "----- last 30 lines of " in out and "triggerer.log -----" in out, out
    # the tail is the triggerer's own: its command error
    assert "argument --capacity: invalid positive int value: 'not-a-number'" in out, out
    assert "the reason is reported once, at test_inner.py::test_one" in out, out
    assert "ERROR test_inner.py::test_one" in out or "ERROR at setup of test_one" in out, out


def test_a_component_error_reads_as_the_issue_asks(tmp_path):
    log = tmp_path / "scheduler.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)), "utf-8")
    error = StartupError("scheduler", "its heartbeat", log, "not seen after 240 s")
    text = str(error)
    assert text.startswith("scheduler did not come up: awaited its heartbeat; not seen after 240 s")
    assert "line 69" not in text and "line 70" in text and text.endswith("line 99")


def _python(code: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "SUPERVISION_TEST_POSTGRES"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)


def _gone(pid: int, seconds: float = 30) -> bool:
    deadline = Deadline(seconds)
    while not deadline.expired():
        try:
            os.kill(pid, 0)
            status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if status == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


def test_a_server_left_by_a_killed_run_is_stopped_and_removed_by_the_next(monkeypatch):
    monkeypatch.delenv("SUPERVISION_TEST_POSTGRES", raising=False)
    run = _python("""
        import time
        from supervision.testing_postgres import throwaway_postgres
        with throwaway_postgres() as server:
            print(server.port, flush=True)
            time.sleep(600)
    """)
    port = int(run.stdout.readline())
    run.kill()                                 # no chance to stop its server
    run.wait()
    (left,) = [p.parent for p in Path(tempfile.gettempdir()).glob("supervision-pg-*/owner.pid")
               if p.read_text() == str(run.pid)]
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass                                   # still running
    with testing_postgres.throwaway_postgres():
        assert not left.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_components_die_with_the_process_that_started_them():
    from tests.deploy.native_stack import DIE_WITH_PARENT

    if not DIE_WITH_PARENT:
        pytest.skip("setpriv (util-linux) is not installed")
    run = _python(f"""
        import subprocess, time
        child = subprocess.Popen({DIE_WITH_PARENT!r} + ["sleep", "600"], start_new_session=True)
        print(child.pid, flush=True)
        time.sleep(600)
    """)
    child = int(run.stdout.readline())
    assert not _gone(child, 0.5)
    run.kill()
    run.wait()
    assert _gone(child)
