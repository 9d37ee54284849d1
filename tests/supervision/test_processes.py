"""Where a stage writes beside its own work: a thread, or for a large month a second process."""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from supervision import processes


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def _fail(message: str) -> None:
    raise ValueError(message)


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    monkeypatch.delenv("SUPERVISION_SIDE_PROCESS_ROWS", raising=False)


def test_a_small_month_writes_in_a_thread_a_large_one_in_a_process(two_cores, monkeypatch):
    small = processes.side_writer(processes.SIDE_PROCESS_MIN_ROWS - 1, "t")
    large = processes.side_writer(processes.SIDE_PROCESS_MIN_ROWS, "t")
    try:
        assert isinstance(small, ThreadPoolExecutor)
        assert isinstance(large, ProcessPoolExecutor)
    finally:
        small.shutdown()
        large.shutdown()
    monkeypatch.setattr(processes, "usable_cores", lambda: 1)
    with processes.side_writer(10**9, "t") as one_core:        # no second core to write on
        assert isinstance(one_core, ThreadPoolExecutor)


def test_the_threshold_is_configurable_and_zero_means_always_a_thread(two_cores, monkeypatch):
    monkeypatch.setenv("SUPERVISION_SIDE_PROCESS_ROWS", "10")
    with processes.side_writer(10, "t") as pool:
        assert isinstance(pool, ProcessPoolExecutor)
    monkeypatch.setenv("SUPERVISION_SIDE_PROCESS_ROWS", "0")
    with processes.side_writer(10**9, "t") as pool:
        assert isinstance(pool, ThreadPoolExecutor)


@pytest.mark.parametrize("rows", [1, 10**6])
def test_jobs_run_in_order_and_their_errors_reach_the_caller(two_cores, tmp_path, rows):
    target = tmp_path / "out.txt"
    with processes.side_writer(rows, "t") as pool:
        pool.submit(processes.run_jobs, [(_append, (target, "a")), (_append, (target, "b"))]).result()
        failed = pool.submit(processes.run_jobs, [(_fail, ("no such city list",))])
        with pytest.raises(ValueError, match="no such city list"):
            failed.result()
    assert target.read_text(encoding="utf-8") == "ab"


def test_the_side_process_is_started_at_once(two_cores):
    """Its start (imports) overlaps what the stage does before its first job."""
    with processes.side_writer(10**6, "t") as pool:
        assert len(pool._processes) == 1            # noqa: SLF001 (started, not on first job)
