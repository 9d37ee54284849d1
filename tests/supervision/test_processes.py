"""Where a stage writes beside its own work: a thread, or for a large month a second process."""
from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from supervision import processes


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def _write(path: Path, text: str) -> None:
    """A whole file each time, as the table writers write theirs."""
    path.write_text(text, encoding="utf-8")


def _fail(message: str) -> None:
    raise ValueError(message)


def _die_unless_in(pid: int) -> None:
    """Ends the process abruptly (as the kernel's OOM killer would) unless it is ``pid``."""
    if os.getpid() != pid:
        os._exit(9)


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    monkeypatch.delenv("SUPERVISION_SIDE_PROCESS_ROWS", raising=False)


def test_a_small_month_writes_in_a_thread_a_large_one_in_a_process(two_cores, monkeypatch):
    small = processes.side_executor(processes.SIDE_PROCESS_MIN_ROWS - 1, "t")
    large = processes.side_executor(processes.SIDE_PROCESS_MIN_ROWS, "t")
    try:
        assert isinstance(small, ThreadPoolExecutor)
        assert isinstance(large, ProcessPoolExecutor)
        assert len(large._processes) == 1     # noqa: SLF001 (started at once, not on a first job)
    finally:
        small.shutdown()
        large.shutdown()
    monkeypatch.setattr(processes, "usable_cores", lambda: 1)
    with processes.SideWriter(10**9, "t") as one_core:        # no second core to write on
        assert not one_core.uses_process


def test_the_threshold_is_configurable_and_zero_means_always_a_thread(two_cores, monkeypatch):
    monkeypatch.setenv("SUPERVISION_SIDE_PROCESS_ROWS", "10")
    with processes.SideWriter(10, "t") as side:
        assert side.uses_process
    monkeypatch.setenv("SUPERVISION_SIDE_PROCESS_ROWS", "0")
    with processes.SideWriter(10**9, "t") as side:
        assert not side.uses_process


@pytest.mark.parametrize("rows", [1, 10**6])
def test_jobs_run_in_order_and_their_errors_reach_the_caller(two_cores, tmp_path, rows):
    target = tmp_path / "out.txt"
    with processes.SideWriter(rows, "t") as side:
        side.submit([(_append, (target, "a")), (_append, (target, "b"))])
        side.submit([(_append, (target, "c"))])
        side.wait()
        assert target.read_text(encoding="utf-8") == "abc"
        side.submit([(_fail, ("no such city list",))])
        with pytest.raises(ValueError, match="no such city list"):
            side.wait()


def test_a_lost_process_costs_time_not_files(two_cores, tmp_path, caplog):
    """The side process dies in its second job: that job and the one after it are written in
    this process instead, and every file is complete."""
    first, second, third = (tmp_path / n for n in ("first.txt", "second.txt", "third.txt"))
    with caplog.at_level(logging.WARNING, logger="supervision.processes"):
        with processes.SideWriter(10**6, "figures files") as side:
            assert side.uses_process
            side.submit([(_write, (first, "1"))])
            side.submit([(_die_unless_in, (os.getpid(),)), (_write, (second, "2"))])
            side.submit([(_write, (third, "3"))])
            side.wait()
    assert [p.read_text(encoding="utf-8") for p in (first, second, third)] == ["1", "2", "3"]
    assert "figures files: the side process was lost" in caplog.text


def test_jobs_given_after_the_process_was_lost_are_written_here(two_cores, tmp_path):
    after = tmp_path / "after.txt"
    with processes.SideWriter(10**6, "notice lists") as side:
        side.submit([(_die_unless_in, (os.getpid(),))])
        side.wait()                          # the process is lost; its job ran here
        side.submit([(_write, (after, "x"))])  # the pool is broken: taken for wait()
        side.wait()
    assert after.read_text(encoding="utf-8") == "x"


def test_no_process_to_be_had_means_a_thread(two_cores, monkeypatch, caplog):
    def refused(*_args, **_kwargs):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(processes, "spawned_pool", refused)
    with caplog.at_level(logging.WARNING, logger="supervision.processes"):
        with processes.SideWriter(10**6, "figures files") as side:
            assert not side.uses_process
    assert "figures files: no side process could be started" in caplog.text
