"""Reading the values real exports contain: full-width text, dates in five spellings, money as
text, placeholders for "nothing", a person and a phone in one cell.

Every parser returns ``(value, ok)``: ``ok`` is False when a non-empty cell could not be read,
so the quality rules can name it instead of silently treating it as empty. Nothing is guessed:
a cell that could mean two things (``120000元`` in a 万元 column, ``15/07/2020``) is unreadable.
The rules are listed in ``docs/data-contract.md``.
"""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_WS = re.compile(r"\s+")
# characters that are invisible in a spreadsheet and survive NFKC: zero-width space/joiners,
# word joiner, a BOM pasted into a cell
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_EXCEL_EPOCH = date(1899, 12, 30)
# Excel serials of plausible dates (1954-10-... to 2119-...): a bare number elsewhere is not a date
_SERIAL_MIN, _SERIAL_MAX = 20000, 80000

#: cells that mean "nothing here" in hand-filled tables; read as blank (after NFKC, no spaces)
PLACEHOLDERS = frozenset({"-", "--", "---", "—", "——", "–", "/", "\\", "无", "暂无", "空",
                          "N/A", "n/a", "NA", "null", "NULL", "None"})

_TIME = r"(?:[ T]?\d{1,2}(?::|时)\d{1,2}(?:(?::|分)\d{1,2}(?:\.\d+)?秒?)?分?(?:Z|[+-]\d{2}:?\d{2})?)?"
_DATE_PATTERNS = [
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME + "$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?" + _TIME + "$"),
]
_DATETIME_PATTERN = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]?(\d{1,2})(?::|时)(\d{1,2})(?:(?::|分)(\d{1,2}))?")

_MOBILE = r"1[3-9]\d{9}"
_LANDLINE = r"0\d{2,3}-?\d{7,8}(?:-\d{1,6})?"
MOBILE_RE = re.compile(rf"^{_MOBILE}$")
LANDLINE_RE = re.compile(rf"^{_LANDLINE}$")
_PHONE_IN_TEXT = re.compile(rf"(?<!\d)({_MOBILE}|{_LANDLINE})(?!\d)")
_AREA_CODE_IN_BRACKETS = re.compile(r"\((0\d{2,3})\)-?(?=\d{7,8})")
_COUNTRY_CODE = re.compile(r"^(?:\+?86-?)(?=1[3-9]\d{9}$)")
_EXTENSION = re.compile(r"(?:转|分机|ext\.?)(\d{1,6})$", re.IGNORECASE)

# units a number may carry in its own cell, per kind of column; any other unit is unreadable
MONEY_UNITS = ("万元",)
HOUSEHOLD_UNITS = ("户",)
BUILDING_UNITS = ("栋", "幢")
AREA_UNITS = ("万平方米", "万m2", "万m²", "万㎡")
ELEVATOR_UNITS = ("部", "台")
COUNT_UNITS = ("个",)


def is_blank(value: Any) -> bool:
    """None, NaN, pandas' NA/NaT, or a string of whitespace."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def _unwrap(s: str) -> str:
    """Excel's ways of forcing text, as they appear in csv: ``="00123"`` and ``'00123``."""
    if len(s) >= 3 and s.startswith('="') and s.endswith('"'):
        return s[2:-1]
    if s.startswith("'") and len(s) > 1 and s[1].isalnum():
        return s[1:]
    return s


def _already_clean(s: str) -> bool:
    """True when :func:`text` would return ``s`` unchanged (the common case, checked in C):
    printable (no tabs, newlines or zero-width characters), already NFKC, no surrounding or
    doubled spaces, no Excel text marker, not a placeholder."""
    return (s.isprintable() and unicodedata.is_normalized("NFKC", s) and s[:1] != " "
            and s[-1:] != " " and "  " not in s and s[:1] not in ("'", "=")
            and s != "" and (s if " " not in s else s.replace(" ", "")) not in PLACEHOLDERS)


def text(value: Any) -> str | None:
    """A cell as clean text: NFKC (full-width → half-width), invisible characters removed,
    trimmed, inner runs of space collapsed. Blank or a placeholder (``—``, ``/``, ``无``) → None."""
    if type(value) is str and _already_clean(value):
        return value
    return _text_general(value)


def _text_general(value: Any) -> str | None:
    if is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = unicodedata.normalize("NFKC", str(value))
    s = _INVISIBLE.sub("", s)
    s = _unwrap(_WS.sub(" ", s).strip()).strip()
    if not s or s.replace(" ", "") in PLACEHOLDERS:
        return None
    return s


def key(value: Any) -> str:
    """Matching key of SPEC §3: NFKC and removal of all whitespace."""
    s = text(value)
    if not s:
        return ""
    return s if " " not in s else _WS.sub("", s)


def decimal(value: Any, units: tuple[str, ...] = ()) -> tuple[Decimal | None, bool]:
    """A number written as a number or as text (full-width digits, thousands separators,
    a trailing unit from ``units``). Blank → (None, True); unreadable → (None, False)."""
    if is_blank(value):
        return None, True
    if isinstance(value, bool):
        return None, False
    if isinstance(value, int):
        return Decimal(value), True
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None, False
        return Decimal(repr(value)), True
    if isinstance(value, (date, time)):
        return None, False
    s = key(value)
    if not s:
        return None, True
    s = s.replace(",", "").replace("\u2212", "-")
    for unit in sorted(units, key=len, reverse=True):
        if s.endswith(unit):
            s = s[: -len(unit)]
            break
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", s):
        return None, False
    try:
        d = Decimal(s)
    except InvalidOperation:  # pragma: no cover - the pattern above admits only numbers
        return None, False
    return d, True


def integer(value: Any, units: tuple[str, ...] = ()) -> tuple[int | None, bool]:
    d, ok = decimal(value, units)
    if d is None:
        return None, ok
    if d != d.to_integral_value():
        return None, False
    return int(d), True


def households(value: Any) -> tuple[int | None, bool]:
    return integer(value, HOUSEHOLD_UNITS)


def buildings(value: Any) -> tuple[int | None, bool]:
    return integer(value, BUILDING_UNITS)


def elevators(value: Any) -> tuple[int | None, bool]:
    return integer(value, ELEVATOR_UNITS)


def target_count(value: Any) -> tuple[int | None, bool]:
    return integer(value, COUNT_UNITS)


def area(value: Any) -> tuple[float | None, bool]:
    """总建筑面积 in 万平方米 (a cell saying ㎡ or 平方米 without 万 is unreadable)."""
    d, ok = decimal(value, AREA_UNITS)
    return (float(d) if d is not None else None), ok


def money_yuan(value: Any) -> tuple[int | None, bool]:
    """Money in 万元 (as exported) → integer 元, rounded half-up. Integers keep sums exact.
    A cell carrying another unit (``120000元``) is unreadable, never rescaled by guess."""
    d, ok = decimal(value, MONEY_UNITS)
    if d is None:
        return None, ok
    return int((d * 10000).quantize(Decimal(1), rounding=ROUND_HALF_UP)), True


def parse_date(value: Any) -> tuple[date | None, bool]:
    """A date written 2020-07-15, 2020/7/15, 2020.7.15, 2020年7月15日, 20200715, as an Excel
    serial, or already a date. A time part is ignored. Blank → (None, True)."""
    if is_blank(value):
        return None, True
    if isinstance(value, datetime):
        return value.date(), True
    if isinstance(value, date):
        return value, True
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime().date(), True
    if isinstance(value, bool) or isinstance(value, time):
        return None, False
    if isinstance(value, (int, float)):
        return _serial_or_compact(float(value))
    s = text(value)
    if s is None:
        return None, True
    if re.fullmatch(r"\d+(\.\d+)?", s):  # a serial or 20200715 stored as text
        return _serial_or_compact(float(s))
    for pattern in _DATE_PATTERNS:
        m = pattern.match(s)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), True
            except ValueError:
                return None, False
    return None, False


def _serial_or_compact(n: float) -> tuple[date | None, bool]:
    if _SERIAL_MIN <= n <= _SERIAL_MAX:
        return _EXCEL_EPOCH + timedelta(days=int(n)), True
    if n.is_integer() and 19000101 <= n <= 21001231:
        digits = str(int(n))
        try:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:])), True
        except ValueError:
            return None, False
    return None, False


def parse_datetime(value: Any) -> tuple[datetime | None, bool]:
    """Like :func:`parse_date` but keeps a time of day when there is one."""
    if is_blank(value):
        return None, True
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0), True
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime().replace(tzinfo=None, microsecond=0), True
    if isinstance(value, float) and _SERIAL_MIN <= value <= _SERIAL_MAX and not value.is_integer():
        base = datetime(1899, 12, 30) + timedelta(days=value)
        return base.replace(microsecond=0), True
    if isinstance(value, str):
        s = text(value) or ""
        m = _DATETIME_PATTERN.match(s)
        if m and any(p.match(s) for p in _DATE_PATTERNS):
            try:
                return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)), True
            except ValueError:
                return None, False
    d, ok = parse_date(value)
    if d is None:
        return None, ok
    return datetime(d.year, d.month, d.day), True


def year_of(value: Any) -> tuple[int | None, bool]:
    """建成时间 as a year: 1995, "1995年", "1995-06", a date or an Excel serial."""
    if is_blank(value):
        return None, True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1800 <= value <= 2100 and float(value).is_integer():
            return int(value), True
    s = text(value)
    if s is None:
        return None, True
    m = re.match(r"^(\d{4})(?:年|$|[-/.](\d{1,2}))", s)
    if m and 1800 <= int(m.group(1)) <= 2100:
        return int(m.group(1)), True
    d, ok = parse_date(value)
    return (d.year, True) if d else (None, False)


def phone(value: Any) -> str | None:
    """A phone number as one string without spaces: full-width digits made half-width, a
    bracketed area code and a country code +86 taken off, an extension kept as ``-1234``.
    A cell holding one number and some words (``13812345678（办）``) gives the number; a cell
    that holds no recognisable number is returned cleaned, so the quality rule can show it."""
    s = key(value)
    if not s:
        return None
    s = _AREA_CODE_IN_BRACKETS.sub(r"\1-", s)
    s = _EXTENSION.sub(r"-\1", s)
    s = _COUNTRY_CODE.sub("", s)
    if MOBILE_RE.match(s) or LANDLINE_RE.match(s):
        return s
    found = _PHONE_IN_TEXT.findall(s)
    if len(found) == 1 and not re.search(r"\d", _PHONE_IN_TEXT.sub("", s)):
        return found[0]
    return s


def is_valid_phone(value: str | None) -> bool:
    return bool(value) and bool(MOBILE_RE.match(value) or LANDLINE_RE.match(value))


def split_person_phone(value: Any) -> tuple[str | None, str | None]:
    """"张三 13812345678" / "张三13812345678" / "张三（0731-88950212）" → (name, phone)."""
    s = text(value)
    if not s:
        return None, None
    compact = _AREA_CODE_IN_BRACKETS.sub(r"\1-", s.replace(" ", ""))
    m = _PHONE_IN_TEXT.search(compact)
    if not m:
        return s, None
    number = m.group(1)
    rest = compact.replace(number, "", 1)
    rest = re.sub(r"(电话|手机|联系电话|联系方式|Tel|TEL)", "", rest)
    rest = re.sub(r"[()（）:：,，;；/、\-]+", " ", rest).strip() or None
    return rest, number
