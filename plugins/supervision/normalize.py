"""Reading the values real exports contain: full-width text, dates in five spellings, money as
text, a person and a phone in one cell.

Every parser returns ``(value, ok)``: ``ok`` is False when a non-empty cell could not be read,
so the quality rules can name it instead of silently treating it as empty.
"""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_WS = re.compile(r"\s+")
_EXCEL_EPOCH = date(1899, 12, 30)
# Excel serials of plausible dates (1954-10-... to 2119-...): a bare number elsewhere is not a date
_SERIAL_MIN, _SERIAL_MAX = 20000, 80000

_DATE_PATTERNS = [
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?$"),
]
_DATETIME_PATTERN = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]?(\d{1,2}):(\d{2})(?::(\d{2}))?")

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_PHONE_IN_TEXT = re.compile(r"(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})")


def is_blank(value: Any) -> bool:
    """None, NaN, pandas' NA/NaT, or a string of whitespace."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def text(value: Any) -> str | None:
    """A cell as clean text: NFKC (full-width → half-width), trimmed, inner runs of space
    collapsed. Blank → None."""
    if is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = unicodedata.normalize("NFKC", str(value))
    s = _WS.sub(" ", s).strip()
    return s or None


def key(value: Any) -> str:
    """Matching key of SPEC §3: NFKC and removal of all whitespace."""
    s = text(value)
    return _WS.sub("", s) if s else ""


def decimal(value: Any) -> tuple[Decimal | None, bool]:
    """A number written as a number or as text (full-width digits, thousands separators,
    a trailing unit). Blank → (None, True); unreadable → (None, False)."""
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
    s = key(value).replace(",", "").replace("，", "")
    for unit in ("万元", "元", "户", "栋", "部", "万平方米", "㎡", "个"):
        if s.endswith(unit):
            s = s[: -len(unit)]
            break
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None, False
    if not d.is_finite():
        return None, False
    return d, True


def integer(value: Any) -> tuple[int | None, bool]:
    d, ok = decimal(value)
    if d is None:
        return None, ok
    if d != d.to_integral_value():
        return None, False
    return int(d), True


def money_yuan(value: Any) -> tuple[int | None, bool]:
    """Money in 万元 (as exported) → integer 元, rounded half-up. Integers keep sums exact."""
    d, ok = decimal(value)
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
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _serial_or_compact(float(value))
    s = text(value) or ""
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
        m = _DATETIME_PATTERN.match(text(value) or "")
        if m:
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
        if 1800 <= value <= 2100:
            return int(value), True
    s = text(value) or ""
    m = re.match(r"^(\d{4})(?:年|$|[-/.](\d{1,2}))", s)
    if m and 1800 <= int(m.group(1)) <= 2100:
        return int(m.group(1)), True
    d, ok = parse_date(value)
    return (d.year, True) if d else (None, False)


def phone(value: Any) -> str | None:
    """A phone number without spaces (full-width digits made half-width)."""
    s = key(value)
    return s or None


def is_valid_phone(value: str | None) -> bool:
    return bool(value) and bool(MOBILE_RE.match(value) or LANDLINE_RE.match(value))


def split_person_phone(value: Any) -> tuple[str | None, str | None]:
    """"张三 13812345678" / "张三13812345678" / "张三（0731-88950212）" → (name, phone)."""
    s = text(value)
    if not s:
        return None, None
    m = _PHONE_IN_TEXT.search(s.replace(" ", ""))
    if not m:
        return s, None
    number = m.group(1)
    rest = s.replace(" ", "").replace(number, "")
    rest = re.sub(r"[()（）:：,，;；/、\-]+", " ", rest).strip() or None
    return rest, number
