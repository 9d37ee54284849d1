"""Errors that stop a run before anything is published (SPEC §4, file-level problems).

Each names what a person must fix: the file, and the column, sheet or month.
"""
from __future__ import annotations


class SupervisionError(Exception):
    """Base of the errors the pipeline raises on purpose."""


class LandingError(SupervisionError):
    """The landing area does not hold what the month needs (no snapshot, no targets...)."""


class InputFileError(SupervisionError):
    """An input file cannot be used: unreadable, wrong layout, a required column missing."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
