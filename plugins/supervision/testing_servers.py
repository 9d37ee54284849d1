"""Starting servers for tests without races or silent failures (never for production).

Every test server (the throwaway PostgreSQL, the aiosmtpd stand-in, the natively started Airflow
components) uses these:

- ``free_port()`` hands out a loopback port *outside the kernel's ephemeral range*
  (``/proc/sys/net/ipv4/ip_local_port_range``). A port from that range (``bind(("", 0))``) can be
  taken by any outgoing connection on the machine — a PostgreSQL client, an HTTP poll — between
  the moment it is picked and the moment the server binds it, and the server then dies with
  "address already in use". Below the range no outgoing connection ever lands; the port is also
  checked free on every interface and never handed out twice by one process. A clash with another
  process picking ports the same way is still possible, so servers retry on "address in use"
  (``address_in_use``).
- ``Deadline`` waits generously and longer on a busy machine: the base seconds are multiplied by
  the one-minute load average per core (1 to 6, the largest seen while waiting) and by
  ``SUPERVISION_TEST_TIMEOUT_SCALE`` (default 1).
- ``StartupError`` names the component that did not come up, what was awaited, and the last 30
  lines of its log.
- ``ReportOnce`` reports a shared (module or session) fixture's failure once: the first test
  that needs it errors with the message, the others are skipped with a pointer to it.
"""
from __future__ import annotations

import errno
import os
import random
import socket
import time
from contextlib import contextmanager
from pathlib import Path

TAIL_LINES = 30
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999            # Linux's default


def _is_free(port: int) -> bool:
    """Nothing is bound to ``port`` on any interface (IPv4 or IPv6): servers here bind
    127.0.0.1, Airflow's log servers bind every interface."""
    families = [(socket.AF_INET, "0.0.0.0")]
    if socket.has_ipv6:
        families.append((socket.AF_INET6, "::"))
    for family, host in families:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6:
                continue               # no IPv6 on this machine
            return False
    return True


def free_port() -> int:
    """A TCP port that nothing is bound to now and that no outgoing connection can take before
    the caller's server binds it (see the module's doc)."""
    low, high = _ephemeral_range()
    if low > 11000:
        candidates = (10000, low - 1)
    else:                              # an unusual range: the ports above it
        candidates = (high + 1, 65535) if high < 64000 else (1024, 65535)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(*candidates)
        if port not in _handed_out and _is_free(port):
            _handed_out.add(port)
            return port
    raise OSError(errno.EADDRINUSE, f"no free TCP port in {candidates[0]}–{candidates[1]}")


def address_in_use(text: str) -> bool:
    """Does a server's output or log say it could not bind its port?"""
    lowered = text.lower()
    return ("address already in use" in lowered or "could not bind" in lowered
            or f"[errno {errno.EADDRINUSE}]" in lowered)


def busy_factor() -> float:
    """How much longer than on a quiet machine a start-up may take now (see the module's doc)."""
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        load = 1.0
    try:
        scale = float(os.environ.get("SUPERVISION_TEST_TIMEOUT_SCALE") or 1)
    except ValueError:
        scale = 1.0
    return max(1.0, min(6.0, load)) * max(scale, 0.01)


class Deadline:
    """``seconds`` on a quiet machine, stretched by ``busy_factor()`` (its largest value seen)."""

    def __init__(self, seconds: float):
        self.base = seconds
        self.started = time.monotonic()
        self.factor = busy_factor()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def allowed(self) -> float:
        self.factor = max(self.factor, busy_factor())
        return self.base * self.factor

    def remaining(self) -> float:
        return max(0.0, self.allowed() - self.elapsed)

    def expired(self) -> bool:
        return self.elapsed > self.allowed()

    def describe(self) -> str:
        return (f"{self.elapsed:.0f} s (deadline {self.base:.0f} s × {self.factor:.1f} "
                f"for the machine's load)")


def tail(path: Path | str | None, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, headed by its path."""
    if path is None:
        return "(no log)"
    try:
        text = Path(path).read_text("utf-8", errors="replace").splitlines()[-lines:]
    except OSError as exc:
        text = [f"(unreadable: {exc})"]
    return f"----- last {lines} lines of {path} -----\n" + "\n".join(text)


class StartupError(RuntimeError):
    """A server or component did not come up: which one, what was awaited, its log's tail."""

    def __init__(self, component: str, awaited: str, log: Path | str | None = None,
                 detail: str = "", lines: int = TAIL_LINES):
        self.component, self.awaited, self.log, self.detail = component, awaited, log, detail
        message = f"{component} did not come up: awaited {awaited}"
        if detail:
            message += f"; {detail}"
        super().__init__(f"{message}\n{tail(log, lines)}")


class ReportOnce:
    """A shared (module or session) fixture's failure, reported by one test only.

    pytest re-raises a shared fixture's exception in every test that uses it: six identical
    errors for one server that did not start. With this, the first test errors with the
    message, and ``tests/conftest.py``'s ``pytest_runtest_setup`` skips every later test whose
    fixtures include ``fixture``, pointing at that first test:

        _TOPOLOGY = ReportOnce("the native topology", fixture="topology")

        @pytest.fixture(scope="module")
        def topology(...):
            with _TOPOLOGY.starting():
                ... start things ...
            yield ...
    """

    registry: list["ReportOnce"] = []
    current_test: str | None = None      # set by tests/conftest.py before each test's set-up

    def __init__(self, what: str, fixture: str):
        self.what, self.fixture = what, fixture
        self.error: str | None = None
        self.reported_by: str | None = None
        ReportOnce.registry.append(self)

    @contextmanager
    def starting(self):
        """Wrap the fixture's set-up: an exception (not KeyboardInterrupt) fails the test
        being set up with its message, without a traceback, and marks the fixture failed."""
        import pytest  # noqa: PLC0415

        self.error = self.reported_by = None
        failure: Exception | None = None
        try:
            yield self
        except Exception as exc:  # noqa: BLE001 - reported, once
            failure = exc
        if failure is not None:
            self.error = f"{self.what} failed: {type(failure).__name__}: {failure}"
            self.reported_by = ReportOnce.current_test
            try:
                pytest.fail(self.error, pytrace=False)
            except pytest.fail.Exception as reported:
                raise reported from None     # the message alone, not the chained exception

    def skip_if_failed(self, item) -> None:
        import pytest  # noqa: PLC0415

        if self.error is not None and self.fixture in getattr(item, "fixturenames", ()):
            pytest.skip(f"{self.what} failed; the reason is reported once, at {self.reported_by}")
