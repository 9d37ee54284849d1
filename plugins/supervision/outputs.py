"""The month folder of SPEC §7: files written to a staging folder, then published in one step.

A run writes ``<output_dir>/.staging/<YYYY-MM>/``; publishing swaps it for
``<output_dir>/<YYYY-MM>/`` with a ``manifest.json`` of every file and its SHA-256. Outputs
carry no run timestamps, so the same inputs give byte-identical files.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .normalize import is_blank

#: fixed timestamp written into zip-based files (xlsx) so reruns are byte-identical
ZIP_EPOCH = (2000, 1, 1, 0, 0, 0)


def staging_dir(output_dir: Path, month: str) -> Path:
    return Path(output_dir) / ".staging" / month


def month_dir(output_dir: Path, month: str) -> Path:
    return Path(output_dir) / month


def fresh_staging(output_dir: Path, month: str) -> Path:
    path = staging_dir(output_dir, month)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


#: what makes a spreadsheet read a csv cell as a formula (OWASP "CSV injection"): = + - @, tab, CR
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: a cell that is only a number (-1.25, +3, -0.5000, 1e-3, -12%): a spreadsheet reads it as that
#: number, never as a formula, so it is written as it is (较上月 changes stay numbers)
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?")


def neutralise(value: Any) -> Any:
    """A csv cell that cannot become a formula: a text cell starting with one of
    :data:`FORMULA_TRIGGERS` gets a leading ``'`` (shown, and the cell stays text), unless it is
    a plain number. Numbers, and every other text, are written unchanged, but for a carriage
    return inside a text, written as a line break (the writer would not quote a bare CR, and a
    spreadsheet would end the record there)."""
    if value.__class__ is not str:
        return value
    if value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        value = "'" + value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """UTF-8 with BOM (so Excel opens Chinese correctly), LF line ends, empty for None. Every
    csv of the product is written for people, who open it in Excel: each cell goes through
    :func:`neutralise` (values from the inputs, ``=HYPERLINK(...)``, cannot become formulas)."""
    return _write_cells(path, header, (["" if is_blank(v) else neutralise(v) for v in row]
                                       for row in rows))


def write_csv_columns(path: Path, header: Sequence[str], columns: Sequence[list[Any]]) -> Path:
    """:func:`write_csv` of a table given column by column (each the same length): each
    distinct cell of a column is made safe once (a long list repeats its cities, dates and
    reasons)."""
    return _write_cells(path, header, zip(*(_safe_column(c) for c in columns)))


def _safe_cell(v: Any) -> Any:
    return "" if is_blank(v) else neutralise(v)


def _safe_column(values: list[Any]) -> list[Any]:
    return per_distinct(_safe_cell, values)


#: types whose equal values are always written alike (1 and True differ by type only)
_PLAIN = frozenset({str, int, bool, type(None)})


def per_distinct(fn: Callable[[Any], Any], values: Iterable[Any]) -> list[Any]:
    """``[fn(v) for v in values]`` with ``fn`` called once per distinct value: distinct by type
    and value, and for other types than str, int and bool by type and ``repr`` (0.0 and -0.0,
    Decimal("1") and Decimal("1.0") are equal but written differently); an unhashable value of
    those is computed each time. ``fn`` must be pure.

    A column of one plain type (None aside), or of floats without a zero, is mapped through one
    dict with no Python code per cell; any other column is keyed cell by cell."""
    values = values if isinstance(values, list) else list(values)
    kinds = set(map(type, values))
    kinds.discard(type(None))  # None equals nothing but None: it never merges with a value
    if len(kinds) <= 1 and kinds <= {str, int, bool, float}:
        distinct = dict.fromkeys(values)
        # one type: equal keys are the same value, except float zeros (0.0 == -0.0)
        if not (float in kinds and any(v == 0.0 for v in distinct if v.__class__ is float)):
            mapped = {v: fn(v) for v in distinct}
            return list(map(mapped.__getitem__, values))
    cache: dict[tuple, Any] = {}
    out: list[Any] = []
    append = out.append
    for v in values:
        cls = v.__class__
        key = (cls, v) if cls in _PLAIN else (cls, repr(v))
        try:
            result = cache[key]
        except KeyError:
            result = cache[key] = fn(v)
        except TypeError:
            result = fn(v)
        append(result)
    return out


def _write_cells(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([neutralise(h) for h in header])
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8-sig")
    return path


_MODIFIED = re.compile(rb"<dcterms:modified([^>]*)>[^<]*</dcterms:modified>")


def normalize_zip(path: Path) -> None:
    """Rewrite a zip (xlsx) with fixed entry timestamps and no save time in its properties
    (openpyxl stamps the time of saving): identical content gives identical bytes."""
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info.filename)) for info in src.infolist()]
    entries = [(info, _MODIFIED.sub(rb"<dcterms:modified\1>2000-01-01T00:00:00Z</dcterms:modified>", data)
                if info.filename == "docProps/core.xml" else data) for info, data in entries]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries:
            clean = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            clean.compress_type = zipfile.ZIP_DEFLATED
            clean.external_attr = 0o600 << 16
            dst.writestr(clean, data)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


def write_manifest(folder: Path, inputs: dict[str, Any]) -> Path:
    """``manifest.json``: every file of the folder with its SHA-256 and size, and the inputs."""
    files = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            files.append({"path": p.relative_to(folder).as_posix(), "sha256": sha256_file(p),
                          "bytes": p.stat().st_size})
    return write_json(folder / "manifest.json", {"files": files, "inputs": inputs})


def attach_to_manifest(folder: Path, sub: str) -> Path | None:
    """List the files of ``<folder>/<sub>/`` in the month's ``manifest.json`` under
    ``attached.<sub>`` (path, SHA-256, size), so that the manifest names every file of the month
    folder also after a later stage added to it: the sent versions (``sent/``, written by the
    send stage and carried across reruns) and the spot-check findings (``spot_checks/``). The
    section is dropped when the subfolder is gone. Deterministic: the same files give the same
    bytes. Nested ``manifest.json`` files are their own folders' manifests and not listed."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text("utf-8"))
    attached = dict(manifest.get("attached") or {})
    root = Path(folder) / sub
    files = [{"path": p.relative_to(folder).as_posix(), "sha256": sha256_file(p),
              "bytes": p.stat().st_size}
             for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"] \
        if root.is_dir() else []
    if files:
        attached[sub] = files
    else:
        attached.pop(sub, None)
    manifest.pop("attached", None)
    if attached:
        manifest["attached"] = {k: attached[k] for k in sorted(attached)}
    return write_json(path, manifest)


def publish(output_dir: Path, month: str) -> Path:
    """Replace ``<output_dir>/<month>`` by the staging folder (rename, then remove the old)."""
    staging = staging_dir(output_dir, month)
    if not staging.is_dir():
        raise FileNotFoundError(f"nothing staged for {month} in {staging}")
    target = month_dir(output_dir, month)
    old = Path(output_dir) / ".staging" / f"{month}.replaced"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.exists():
        shutil.rmtree(old)
    return target
