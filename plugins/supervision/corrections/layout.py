"""Where a month's corrections live in its output folder, and ``make run``'s lines about them:
the standard library only, so that the summary printed after a run starts in a moment."""
from __future__ import annotations

import json
from pathlib import Path

SENT_DIR = "sent"
CORRECTIONS_DIR = "corrections"
VERSIONS_INDEX = f"{SENT_DIR}/versions.json"
CHANGES_CSV = f"{CORRECTIONS_DIR}/changes.csv"
ERRATUM = f"{CORRECTIONS_DIR}/erratum"
META = f"{CORRECTIONS_DIR}/meta.json"


def read_meta(folder: Path) -> dict | None:
    """The pending correction's ``corrections/meta.json`` of a month's folder, if any."""
    path = Path(folder) / META
    return json.loads(path.read_text("utf-8")) if path.is_file() else None


def summary_lines(folder: Path) -> list[str]:
    """``make run``'s lines about versions: the last send's summary, or a pending correction."""
    folder = Path(folder)
    lines = []
    meta = read_meta(folder)
    index = folder / VERSIONS_INDEX
    sent = json.loads(index.read_text("utf-8")) if index.is_file() else []
    last = sent[-1] if sent else None
    if meta and not (last and last["version"] == meta["version"]):
        lines.append(f"  correction:     {meta['changes']} values changed since sent on {meta.get('sent_on')}; "
                     f"erratum {meta.get('number', '')} awaits approval ({folder / CHANGES_CSV})")
    if last:
        lines.append(f"  sent versions:  {len(sent)} in {folder / SENT_DIR}; v{last['version']}: "
                     f"{last.get('summary') or last['status']}")
    return lines
