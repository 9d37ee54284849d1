"""Data months (``YYYY-MM``) and the calendar arithmetic the figures need."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, the unit of reporting (the data month of SPEC)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month out of range: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> "Month":
        m = _MONTH_RE.match(str(text).strip())
        if not m:
            raise ValueError(f"not a month in the form YYYY-MM: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: date) -> "Month":
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def shift(self, months: int) -> "Month":
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    def next(self) -> "Month":
        return self.shift(1)

    def previous(self) -> "Month":
        return self.shift(-1)

    def months_since(self, other: "Month") -> int:
        """Whole months from ``other`` to ``self`` (positive when self is later)."""
        return (self.year - other.year) * 12 + (self.month - other.month)

    def label_zh(self) -> str:
        return f"{self.year}年{self.month}月"


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last`` inclusive."""
    out, m = [], first
    while m <= last:
        out.append(m)
        m = m.next()
    return out


def date_zh(day: date) -> str:
    """A date as official documents write it: 2020年7月2日."""
    return f"{day.year}年{day.month}月{day.day}日"
