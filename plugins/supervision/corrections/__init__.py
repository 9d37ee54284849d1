"""Corrections of a sent month (SPEC §6): what was sent is kept per version, a rerun whose
results differ from the last sent version lists every changed value and sends an erratum (更正)
once to each recipient of a changed document, after the steward approves.

* :mod:`.versions` — the frozen folders ``<M>/sent/v<N>/``, ``month_versions``, and the
  attachments (SHA-256) of each delivery in ``delivery_attachments``;
* :mod:`.compare` — new results against a sent version, value by value;
* :mod:`.erratum` — ``corrections/changes.csv``, the erratum (HTML + PDF), ``meta.json``;
* :mod:`.publication` — what the documents and send stages do with them;
* :mod:`.layout` — where they live in the month's folder, and `make run`'s lines about them.

See docs/corrections.md.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from .layout import SENT_DIR, summary_lines

#: the stages' functions, imported from :mod:`.publication` when first asked for (it imports
#: the warehouse: pandas and SQLAlchemy), so that :mod:`.layout` alone starts in a moment
_STAGES = ("Plan", "carry", "finish", "plan", "prepare", "request_lines", "start")

__all__ = ["SENT_DIR", "summary_lines", *_STAGES]


def __getattr__(name: str) -> Any:
    if name in _STAGES:
        return getattr(import_module(".publication", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
