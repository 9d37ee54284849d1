"""Arrow fast paths of the cell parsers of :mod:`.normalize`, for a national export (issue 17).

A csv export's records are stored as Arrow string columns (:mod:`.readers`). Most of their cells
are written plainly: ``159.27``, ``2020-06-08 16:04:31``, ``18578817097``, ``红旗公寓``. Each
function here recognises, with Arrow's vectorised kernels (RE2), the cells whose reading is
certain from their spelling alone, and gives their values. Every other cell goes through the
Python parser of :mod:`.normalize` — the one definition of the rules — and so does the whole
column when ``ENABLED`` is False (the reference the tests compare with).

Each pattern is a *sufficient* condition: a cell it accepts is one the Python parser reads in
exactly this way (``tests/supervision/test_fastpath.py`` checks it on generated cells and on
every file of the hostile-input corpus). A cell it does not accept loses nothing: it is read
the slow way.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: False: every cell is read by the Python parsers (the reference of the tests)
ENABLED = True

# characters that NFKC leaves alone, that are printable, and that are neither whitespace nor a
# digit other than 0-9: ASCII graphics, the middle dot, 、 and 。, the CJK unified ideographs
# (U+4E00-U+9FEF, all assigned in Python 3.11's Unicode 14)
_GRAPHIC = r"!-~\x{00B7}\x{3001}\x{3002}\x{4E00}-\x{9FEF}"
#: text that nz.text returns unchanged (single inner spaces allowed; placeholders and Excel's
#: text markers are excluded separately)
CLEAN_TEXT = rf"^[{_GRAPHIC}](?:[ {_GRAPHIC}]*[{_GRAPHIC}])?$"
_PLACEHOLDERS: pa.Array | None = None

INTEGER = r"^-?[0-9]{1,15}$"
AREA = r"^-?[0-9]{1,9}(?:\.[0-9]{1,9})?$"
MONEY = r"^(?P<sign>-?)(?P<units>[0-9]{1,12})(?:\.(?P<fraction>[0-9]{1,30}))?$"
DATETIME = (r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}) "
            r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$")
MOBILE = r"^1[3-9][0-9]{9}$"
LANDLINE = r"^0[0-9]{2,3}-?[0-9]{7,8}$"
#: characters json.dumps escapes (ensure_ascii=False)
_JSON_ESCAPED = r'[\x00-\x1f"\\]'
#: a cell that is surely not all whitespace (str.strip() leaves something)
_SURELY_NOT_BLANK = rf"[{_GRAPHIC}]"


def strings(cells: Any) -> pa.Array | None:
    """A stored column as one Arrow string array (nulls: empty cells), or None when the column
    is not one (a Python list, numbers, the fast paths switched off)."""
    if not ENABLED or cells is None or isinstance(cells, list):
        return None
    if not pa.types.is_string(cells.type):
        return None
    return cells.combine_chunks() if isinstance(cells, pa.ChunkedArray) else cells


def _mask(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def valid(array: pa.Array) -> np.ndarray:
    """The non-null (non-empty) cells."""
    return _mask(pc.is_valid(array))


def _placeholders() -> pa.Array:
    global _PLACEHOLDERS
    if _PLACEHOLDERS is None:
        from .normalize import PLACEHOLDERS

        _PLACEHOLDERS = pa.array(sorted(PLACEHOLDERS), pa.string())
    return _PLACEHOLDERS


def clean_text(array: pa.Array) -> np.ndarray:
    """The cells ``nz.text`` returns unchanged."""
    ok = pc.match_substring_regex(array, CLEAN_TEXT)
    ok = pc.and_(ok, pc.invert(pc.match_substring(array, "  ")))
    ok = pc.and_(ok, pc.invert(pc.starts_with(array, "'")))
    ok = pc.and_(ok, pc.invert(pc.starts_with(array, "=")))
    ok = pc.and_(ok, pc.invert(pc.is_in(pc.replace_substring(array, " ", ""), _placeholders())))
    return _mask(ok)


def _merge_strings(array: pa.Array, fast: np.ndarray, slow: Callable[[Any], Any],
                   per_cell: Callable) -> pa.Array:
    """``array`` where ``fast``; elsewhere (non-null cells) ``slow`` of the cell, computed once
    per distinct cell (``per_cell``)."""
    redo = ~fast & valid(array)
    if not redo.any():
        return array
    idx = np.flatnonzero(redo)
    values = per_cell(slow, array.take(pa.array(idx)).to_pylist())
    return pc.replace_with_mask(array, pa.array(redo), pa.array(values, pa.string()))


def text(array: pa.Array, per_cell: Callable) -> pa.Array:
    """``nz.text`` of every cell, as an Arrow string array (None: null)."""
    from . import normalize as nz

    return _merge_strings(array, clean_text(array), nz.text, per_cell)


def per_distinct(array: pa.Array, fn: Callable[[Any], str | None]) -> pa.Array:
    """``fn`` of each cell (text, or None for a null), evaluated once per distinct cell."""
    encoded = array.dictionary_encode()
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return mapped.take(encoded.indices)


def replaced(array: pa.Array, where: np.ndarray, values: list[Any]) -> pa.Array:
    """``array`` with the cells ``where`` replaced by ``values`` (in order; None: null)."""
    if not len(values):
        return array
    return pc.replace_with_mask(array, pa.array(where), pa.array(values, array.type))


def series(array: pa.Array):
    """An Arrow string array as the pandas column ``pd.Series(list_of_str_or_None)`` gives."""
    import pandas as pd

    if array.null_count == len(array):  # no text at all: pandas infers no string dtype
        return pd.Series([None] * len(array))
    return pd.Series(array.to_pandas())


def integers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The cells that are a plain integer (``-12``, ``007``): (which, their int64 values)."""
    return _matching(array, INTEGER, pa.int64(), np.int64)


def areas(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The cells that are a plain decimal of at most nine digits either side: (which, float)."""
    return _matching(array, AREA, pa.float64(), np.float64)


def _matching(array: pa.Array, pattern: str, arrow_type: pa.DataType,
              dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """The cells matching ``pattern`` and their values cast by Arrow (0 elsewhere)."""
    ok = _mask(pc.match_substring_regex(array, pattern))
    values = np.zeros(len(array), dtype=dtype)
    if ok.any():
        values[ok] = pc.cast(array.filter(pa.array(ok)), arrow_type).to_numpy()
    return ok, values


def money_yuan(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The cells that are a plain amount in 万元 (at most 12 digits before the point): (which,
    integer 元 rounded half-up, as ``nz.money_yuan``)."""
    ok = _mask(pc.match_substring_regex(array, MONEY))
    values = np.zeros(len(array), dtype=np.int64)
    if not ok.any():
        return ok, values
    parts = pc.extract_regex(array.filter(pa.array(ok)), MONEY)
    units = pc.cast(parts.field("units"), pa.int64()).to_numpy()
    fraction = pc.utf8_rpad(parts.field("fraction"), 5, "0")
    first4 = pc.cast(pc.utf8_slice_codeunits(fraction, 0, 4), pa.int64()).to_numpy()
    half_up = _mask(pc.greater_equal(pc.utf8_slice_codeunits(fraction, 4, 5), "5"))
    magnitude = units * 10000 + first4 + half_up.astype(np.int64)
    negative = _mask(pc.equal(parts.field("sign"), "-"))
    values[ok] = np.where(negative, -magnitude, magnitude)
    return ok, values


def datetimes(array: pa.Array) -> np.ndarray:
    """The cells written ``YYYY-MM-DD HH:MM:SS`` with a real calendar date: ``nz.parse_datetime``
    reads them as that moment, whose ISO form (``isoformat(sep=" ")``) is the cell itself."""
    from datetime import date

    ok = _mask(pc.match_substring_regex(array, DATETIME))
    if not ok.any():
        return ok
    days = pc.utf8_slice_codeunits(array, 0, 10)
    distinct = pc.unique(days.filter(pa.array(ok)))

    def real(day: str) -> bool:
        try:
            date(int(day[:4]), int(day[5:7]), int(day[8:10]))
        except ValueError:
            return False
        return True

    valid = [d for d in distinct.to_pylist() if real(d)]
    return ok & _mask(pc.is_in(days, pa.array(valid, pa.string())))


def phones(array: pa.Array) -> np.ndarray:
    """The cells that are one mobile or landline number as written: ``nz.phone`` keeps them."""
    return _mask(pc.or_(pc.match_substring_regex(array, MOBILE),
                        pc.match_substring_regex(array, LANDLINE)))


def names_without_digits(array: pa.Array) -> np.ndarray:
    """Clean text with no digit: ``nz.split_person_phone`` gives (the cell, None)."""
    return clean_text(array) & ~_mask(pc.match_substring_regex(array, "[0-9]"))


def keys(array: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """For text cells already clean (``nz.text``'s output): which are clean, and their
    matching key (``nz.key``: spaces removed)."""
    return clean_text(array), pc.replace_substring(array, " ", "")


def raw_fragments(array: pa.Array, header: str, dumps: Callable[[Any], str],
                  keep: Callable[[str], bool]) -> pa.Array:
    """For the raw JSON of a record: ``, "header": "cell"`` for each cell the record keeps
    (``keep``: not only whitespace), null for the others; ``dumps`` is json.dumps."""
    head = FRAGMENT_SEPARATOR + dumps(header) + ": "
    plain = ~_mask(pc.match_substring_regex(array, _JSON_ESCAPED))
    plain &= _mask(pc.match_substring_regex(array, _SURELY_NOT_BLANK))
    out = pc.binary_join_element_wise(head + '"', array, '"', "")
    redo = ~plain & valid(array)
    if redo.any():
        idx = np.flatnonzero(redo)
        values = [head + dumps(v) if keep(v) else None
                  for v in array.take(pa.array(idx)).to_pylist()]
        out = pc.replace_with_mask(out, pa.array(redo), pa.array(values, pa.string()))
    return out


#: what precedes each fragment of a record's raw JSON (json.dumps' item separator)
FRAGMENT_SEPARATOR = ", "


def join_objects(fragments: list[pa.Array]) -> pa.Array:
    """Each record's JSON object from its fragments (nulls left out), as json.dumps writes it.
    (Arrow 26's ``null_handling="skip"`` drops a row whose inputs are all null: the fragments
    carry their separator instead, and nulls join as "".)"""
    if not fragments:
        raise ValueError("no fragments")
    inner = pc.binary_join_element_wise(*fragments, "", null_handling="replace",
                                        null_replacement="")
    inner = pc.utf8_slice_codeunits(inner, len(FRAGMENT_SEPARATOR))
    return pc.binary_join_element_wise("{", inner, "}", "")
