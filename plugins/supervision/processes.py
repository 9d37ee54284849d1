"""Processes a stage starts for work beside its own: the PDFs' pool (documents.PdfPool) and
the side writer of a large month's files (:class:`SideWriter`).

A thread is enough beside work that lets go of the GIL (SQLite, Arrow); beside Python work it
only takes turns with it. A large month's lists (tens of thousands of rows as csv and xlsx,
Python cell by cell) are written by a second process instead, on the machine's other core:
the jobs are top-level functions and their arguments, pickled to it (the frames of the lists,
not the month), and the files are the same wherever they are written."""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

#: what a side writer is given: top-level functions and their (picklable) arguments, in order
Jobs = list[tuple[Callable[..., Any], tuple[Any, ...]]]

#: a month with at least this many accepted rows has its lists written by a second process
#: (SUPERVISION_SIDE_PROCESS_ROWS overrides it; 0: always a thread). Measured at 300,000
#: communities (docs/benchmarks.md, issue 17 eighth part): the figures' files take ≈ 6 s of
#: Python; at 30,000 they take under 1 s, less than the process's start (imports, ≈ 1 s).
SIDE_PROCESS_MIN_ROWS = 100_000


@contextmanager
def main_module_hidden() -> Iterator[None]:
    """While processes are spawned, ``__main__`` shows no file nor module name, so the workers
    do not run it again: multiprocessing re-runs the parent's main script in every spawned
    process (under Airflow the ``airflow`` script, an import of Airflow of 2-4 s; a script
    without a ``__name__`` guard would even start over). The workers need nothing of it."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__spec__", "__file__") if k in main.__dict__}
    main.__dict__["__spec__"] = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _ready() -> None:
    """A task that only makes a pool start its process."""


def spawned_pool(processes: int, initializer: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """``processes`` fresh processes (spawned: nothing of this process, Airflow's task runner
    included, is inherited), started now, so that their imports overlap what this process
    does meanwhile."""
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=initializer)
    with main_module_hidden():
        for _ in range(processes):         # one process started by each: all of them now
            pool.submit(_ready)
    return pool


def side_process_rows() -> int:
    configured = os.environ.get("SUPERVISION_SIDE_PROCESS_ROWS", "").strip()
    return int(configured) if configured else SIDE_PROCESS_MIN_ROWS


def side_process(rows: int, name: str, instead: str) -> ProcessPoolExecutor | None:
    """One spawned process for a month of at least :func:`side_process_rows` rows (and more
    than one usable core), else None; None too, with a warning naming what is done
    ``instead``, when no process can be started (limits, memory)."""
    threshold = side_process_rows()
    if threshold > 0 and rows >= threshold and usable_cores() > 1:
        try:
            return spawned_pool(1)
        except OSError as exc:
            log.warning("%s: no side process could be started (%s); %s", name, exc, instead)
    return None


def side_executor(rows: int, name: str) -> Executor:
    """:func:`side_process` for a large month, else one thread (``name`` its prefix)."""
    return (side_process(rows, name, "writing in a thread")
            or ThreadPoolExecutor(1, thread_name_prefix=name))


class SideWriter:
    """Where a stage writes its files beside its own work (:func:`side_executor`), the jobs
    run in the order submitted. :meth:`wait` re-raises a writer's error here; when the process
    itself is lost (killed, out of memory: ``BrokenProcessPool``), the jobs it did not finish
    are run again in this process, with a warning, so the month's files are still all written
    (a writer writes its whole file each time)."""

    def __init__(self, rows: int, name: str) -> None:
        self.name = name
        self._pool = side_executor(rows, name)
        self._jobs: list[tuple[Future | None, Jobs]] = []

    @property
    def uses_process(self) -> bool:
        return isinstance(self._pool, ProcessPoolExecutor)

    def submit(self, jobs: Jobs) -> None:
        try:
            future: Future | None = self._pool.submit(run_jobs, jobs)
        except BrokenProcessPool:       # lost before this job: it is written by wait()
            future = None
        self._jobs.append((future, jobs))

    def wait(self) -> None:
        lost = False
        for future, jobs in self._jobs:
            try:
                if future is None:
                    raise BrokenProcessPool("lost before the job was given to it")
                future.result()
            except BrokenProcessPool as exc:
                if not lost:
                    log.warning("%s: the side process was lost (%s); writing its files in this "
                                "process", self.name, exc)
                lost = True
                run_jobs(jobs)
        self._jobs.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "SideWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def run_jobs(jobs: Jobs) -> None:
    """Each ``(function, args)`` in order (the unit a side writer is given)."""
    for function, args in jobs:
        function(*args)
