"""Programme-year and province configuration (``include/config/``).

The notice fixes targets, deadlines, weights and the expected path for one programme year; a
province fixes its cities and their administrative order. Both are YAML files, so adding a year
or a province is a data change, never a code change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from . import paths
from .months import Month


class ConfigError(ValueError):
    """A configuration file is missing or malformed."""


@dataclass(frozen=True)
class City:
    name: str
    code: str
    order: int
    aliases: tuple[str, ...] = ()
    #: the name the province's documents print (湘西州 for 湘西自治州); the configured name when
    #: the province file gives none. Data files (csv/xlsx) keep the configured name.
    short: str = ""

    @property
    def display(self) -> str:
        return self.short or self.name


@dataclass(frozen=True)
class Province:
    key: str
    name: str
    short_name: str
    cities: tuple[City, ...]

    @property
    def city_names(self) -> list[str]:
        return [c.name for c in self.cities]

    def city(self, name: str) -> City:
        for c in self.cities:
            if c.name == name:
                return c
        raise KeyError(name)

    def display_name(self, name: str) -> str:
        """The short name documents print for a city (its configured name when it has none,
        and any other name, e.g. 全省, unchanged)."""
        for c in self.cities:
            if c.name == name:
                return c.display
        return name

    def canonical_city(self, name: str) -> str | None:
        """The configured spelling of a city name, or None when it is not one of ours."""
        for c in self.cities:
            if name == c.name or name in c.aliases or (c.short and name == c.short):
                return c.name
        return None


@dataclass(frozen=True)
class ExpectedPath:
    start: Month     # the month at whose end the expected rate is 0
    end: Month       # the month at whose end the expected rate reaches `target`
    target: float

    def fraction_at(self, month: Month) -> tuple[int, int]:
        """Expected rate at the end of ``month`` as an exact fraction (num, den) of 1.

        Linear in months, 0 before ``start``, ``target`` from ``end`` on. The target is taken
        as the decimal written in the configuration (0.5 is exactly 1/2), so the lag rule
        compares exactly.
        """
        rate = self.rate_at(month)
        return rate.numerator, rate.denominator

    def rate_at(self, month: Month) -> Fraction:
        """The expected rate at the end of ``month``, exactly."""
        span = self.end.months_since(self.start)
        done = min(max(month.months_since(self.start), 0), span)
        return exact_decimal(self.target) * done / span


def exact_decimal(value: float | int | str) -> Fraction:
    """A configured decimal exactly as written (0.3 is 3/10, not the nearest binary float)."""
    return Fraction(str(value))


@dataclass(frozen=True)
class FigureRules:
    """Settings of the figures beyond the score weights and the expected path (SPEC §3, N8,
    N10), from the programme file; the defaults are the values of the 2020 file."""
    pace_window_months: int = 3            # early warning: the recent pace is measured over
    spot_check_share: Fraction = Fraction(1, 20)   # N8: share of a city's records sampled
    spot_check_min_per_city: int = 2               # ... but at least this many
    basic_min_item_share: Fraction = Fraction(1, 2)  # N10: basic items' share of all items


@dataclass(frozen=True)
class Programme:
    year: int
    province: Province
    first_month: Month
    last_month: Month
    start_deadline: date
    investment_deadline: date
    investment_target: float
    weights: dict[str, float]
    expected_start: ExpectedPath
    expected_investment: ExpectedPath
    schedule: dict[str, Any]
    documents: dict[str, Any] = field(default_factory=dict)
    figure_rules: FigureRules = field(default_factory=FigureRules)

    def covers(self, month: Month) -> bool:
        return self.first_month <= month <= self.last_month

    def month_index(self, month: Month) -> int:
        """Position of a data month in the programme (first month = 0)."""
        return month.months_since(self.first_month)


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"configuration file not found: {path}")
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


@lru_cache(maxsize=None)
def load_province(key: str, config_dir: Path | None = None) -> Province:
    path = (config_dir or paths.config_dir()) / "provinces" / f"{key}.yaml"
    data = _load_yaml(path)
    try:
        cities = tuple(
            City(name=c["name"], code=c["code"], order=i + 1, aliases=tuple(c.get("aliases", ())),
                 short=str(c.get("short") or ""))
            for i, c in enumerate(data["cities"])
        )
        province = Province(key=key, name=data["name"], short_name=data.get("short_name", ""),
                            cities=cities)
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: malformed province file ({exc})") from exc
    _check_province(province, path)
    return province


def _check_province(province: Province, path: Path) -> None:
    """Every name, alias and short name of a city names that city only; codes are unique."""
    seen: dict[str, str] = {}
    codes: set[str] = set()
    for i, c in enumerate(province.cities):
        if c.code in codes:
            raise ConfigError(f"{path}: cities[{i}].code: {c.code!r} is used twice")
        codes.add(c.code)
        for key, name in [("name", c.name), ("short", c.short)] + [
                (f"aliases[{j}]", a) for j, a in enumerate(c.aliases)]:
            if not name:
                continue
            if seen.get(name, c.name) != c.name:
                raise ConfigError(f"{path}: cities[{i}].{key}: {name!r} already names "
                                  f"{seen[name]}")
            seen[name] = c.name


def _month(value: Any, path: Path, key: str) -> Month:
    try:
        return Month.parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"{path}: {key} must be YYYY-MM, got {value!r}") from exc


def _date(value: Any, path: Path, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{path}: {key} must be YYYY-MM-DD, got {value!r}") from exc


@lru_cache(maxsize=None)
def load_programme(year: int, config_dir: Path | None = None) -> Programme:
    base = config_dir or paths.config_dir()
    path = base / "programmes" / f"{year}.yaml"
    data = _load_yaml(path)
    validate_programme(data, path)
    try:
        ep = data["expected_path"]
        weights = {k: float(v) for k, v in data["weights"].items()}
        if set(weights) != {"start_rate", "investment_rate", "timely_rate"}:
            raise ConfigError(f"{path}: weights must name start_rate, investment_rate, timely_rate")
        if sum(exact_decimal(w) for w in weights.values()) != 1 or min(weights.values()) < 0:
            raise ConfigError(f"{path}: weights must be ≥ 0 and add up to exactly 1 ({weights})")
        return Programme(
            year=int(data["year"]),
            province=load_province(data["province"], config_dir),
            # default reporting window: May of the year to the January after it (the notice)
            first_month=_month(data.get("first_month", f"{int(data['year'])}-05"), path,
                               "first_month"),
            last_month=_month(data.get("last_month", f"{int(data['year']) + 1}-01"), path,
                              "last_month"),
            start_deadline=_date(data["deadlines"]["start"], path, "deadlines.start"),
            investment_deadline=_date(data["deadlines"]["investment"], path, "deadlines.investment"),
            investment_target=float(data["investment_target"]),
            weights=weights,
            expected_start=ExpectedPath(
                _month(ep["start_rate"]["from"], path, "expected_path.start_rate.from"),
                _month(ep["start_rate"]["to"], path, "expected_path.start_rate.to"),
                float(ep["start_rate"]["target"])),
            expected_investment=ExpectedPath(
                _month(ep["investment_rate"]["from"], path, "expected_path.investment_rate.from"),
                _month(ep["investment_rate"]["to"], path, "expected_path.investment_rate.to"),
                float(ep["investment_rate"]["target"])),
            schedule=dict(data.get("schedule", {})),
            documents=dict(data.get("documents", {})),
            figure_rules=_figure_rules(data, path),
        )
    except KeyError as exc:
        raise ConfigError(f"{path}: missing key {exc}") from exc


def _figure_rules(data: dict[str, Any], path: Path) -> FigureRules:
    ew, sc, bc = (dict(data.get(k) or {}) for k in ("early_warning", "spot_check", "basic_category"))
    default = FigureRules()
    try:
        rules = FigureRules(
            pace_window_months=int(ew.get("pace_window_months", default.pace_window_months)),
            spot_check_share=exact_decimal(sc.get("share", default.spot_check_share)),
            spot_check_min_per_city=int(sc.get("min_per_city", default.spot_check_min_per_city)),
            basic_min_item_share=exact_decimal(bc.get("min_basic_item_share",
                                                      default.basic_min_item_share)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed early_warning / spot_check / basic_category ({exc})") from exc
    if rules.pace_window_months < 1 or rules.spot_check_min_per_city < 0 \
            or not 0 <= rules.spot_check_share <= 1 or not 0 <= rules.basic_min_item_share <= 1:
        raise ConfigError(f"{path}: early_warning / spot_check / basic_category out of range ({rules})")
    return rules


def available_programme_years(config_dir: Path | None = None) -> list[int]:
    base = (config_dir or paths.config_dir()) / "programmes"
    return sorted(int(p.stem) for p in base.glob("*.yaml") if p.stem.isdigit())


def programme_for_month(month: Month, config_dir: Path | None = None) -> Programme:
    """The programme year whose reporting window contains ``month``."""
    for year in available_programme_years(config_dir):
        programme = load_programme(year, config_dir)
        if programme.covers(month):
            return programme
    raise ConfigError(
        f"no programme year covers data month {month}: add include/config/programmes/<year>.yaml "
        f"(configured years: {available_programme_years(config_dir)})")


# --------------------------------------------------------------------------- validation

#: the top-level keys of a programme file (docs/runbook.md §5 explains each)
PROGRAMME_KEYS = ("year", "province", "first_month", "last_month", "deadlines",
                  "investment_target", "weights", "expected_path", "early_warning", "spot_check",
                  "basic_category", "schedule", "documents")
WEIGHT_KEYS = ("start_rate", "investment_rate", "timely_rate")
#: the document kinds whose 发文字号 rule may name months by hand (``number.numbers``)
NUMBERED_KINDS = ("monthly_bulletin", "supervision_notice")
COMPLETION_MONTH_KEYS = ("mid_year_bulletin", "year_end_bulletin")


def validate_programme(data: dict[str, Any], path: Path) -> None:
    """Refuse a programme file whose months, dates, weights or deadlines do not fit its year,
    naming the file and the key (``…/2021.yaml: documents.mid_year_bulletin.month: …``).

    Rules: ``year`` matches the file name; the reporting window (``first_month`` …
    ``last_month``) starts in the year and ends in it or the next; the deadlines lie in the
    year, inside the window, 开工 before or with 投资; the expected paths run forwards inside the
    year and reach their target by their deadline's month, the investment path's target being
    ``investment_target``; the weights are the three rates, each in [0, 1], adding up to exactly
    1; the mid-year and year-end months lie in the year inside the window, mid-year first; hand-
    set 发文字号 months lie inside the window; the schedule's day, time and zone exist."""

    def fail(key: str, message: str) -> None:
        raise ConfigError(f"{path}: {key}: {message}")

    def get(key: str) -> Any:
        node: Any = data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                fail(key, "missing")
            node = node[part]
        return node

    def month(key: str, value: Any = None) -> Month:
        value = get(key) if value is None else value
        try:
            return Month.parse(str(value))
        except ValueError:
            fail(key, f"must be a month YYYY-MM, got {value!r}")
        raise AssertionError  # unreachable

    def day(key: str) -> date:
        value = get(key)
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            fail(key, f"must be a date YYYY-MM-DD, got {value!r}")
        raise AssertionError  # unreachable

    def share(key: str, low_open: bool = True) -> Fraction:
        value = get(key)
        try:
            if isinstance(value, bool):
                raise ValueError
            f = exact_decimal(value)
        except (ValueError, ZeroDivisionError):
            fail(key, f"must be a number, got {value!r}")
            raise AssertionError  # unreachable
        if not ((0 < f) if low_open else (0 <= f)) or f > 1:
            fail(key, f"must lie in {'(0' if low_open else '[0'}, 1], got {value!r}")
        return f

    unknown = sorted(set(data) - set(PROGRAMME_KEYS))
    if unknown:
        fail(unknown[0], f"unknown key (a programme file has: {', '.join(PROGRAMME_KEYS)})")
    year = get("year")
    if isinstance(year, bool) or not isinstance(year, int):
        fail("year", f"must be a year such as 2021, got {year!r}")
    if path.stem.isdigit() and int(path.stem) != year:
        fail("year", f"{year} does not match the file name {path.name}")
    get("province")

    first = month("first_month", data.get("first_month", f"{year}-05"))
    last = month("last_month", data.get("last_month", f"{year + 1}-01"))
    if first.year != year:
        fail("first_month", f"{first} is not in the programme year {year}")
    if last < first or last.year not in (year, year + 1):
        fail("last_month", f"{last} must lie from first_month ({first}) to December {year + 1}")

    start, invest = day("deadlines.start"), day("deadlines.investment")
    for key, d in (("deadlines.start", start), ("deadlines.investment", invest)):
        if d.year != year:
            fail(key, f"{d} is not in the programme year {year}")
        if not first.first_day <= d <= last.last_day:
            fail(key, f"{d} lies outside the reported months {first} … {last}")
    if invest < start:
        fail("deadlines.investment", f"{invest} is before deadlines.start ({start})")

    target = share("investment_target")
    for rate, deadline in (("start_rate", start), ("investment_rate", invest)):
        base = f"expected_path.{rate}"
        frm, to = month(f"{base}.from"), month(f"{base}.to")
        for key, m in ((f"{base}.from", frm), (f"{base}.to", to)):
            if m.year != year:
                fail(key, f"{m} is not in the programme year {year}")
        if to <= frm:
            fail(f"{base}.to", f"{to} must be after {base}.from ({frm})")
        if to > Month.of(deadline):
            fail(f"{base}.to", f"{to} is after the deadline's month ({Month.of(deadline)})")
        path_target = share(f"{base}.target")
        if rate == "investment_rate" and path_target != target:
            fail(f"{base}.target", f"{get(base + '.target')} differs from investment_target "
                                   f"({get('investment_target')})")

    weights = get("weights")
    if not isinstance(weights, dict) or set(weights) != set(WEIGHT_KEYS):
        fail("weights", f"must name exactly {', '.join(WEIGHT_KEYS)}")
    total = sum(share(f"weights.{k}", low_open=False) for k in WEIGHT_KEYS)
    if total != 1:
        fail("weights", f"must add up to exactly 1, they add up to {float(total):g}")

    docs = data.get("documents") or {}
    if not isinstance(docs, dict):
        fail("documents", "must be a mapping")
    completion = {}
    for kind, default in zip(COMPLETION_MONTH_KEYS, (6, 12)):
        cfg = docs.get(kind) or {}
        key = f"documents.{kind}.month"
        m = month(key, cfg.get("month", f"{year}-{default:02d}"))
        if m.year != year or not first <= m <= last:
            fail(key, f"{m} must be a month of {year} inside the reported months "
                      f"{first} … {last}")
        completion[kind] = m
    if completion["year_end_bulletin"] <= completion["mid_year_bulletin"]:
        fail("documents.year_end_bulletin.month",
             f"{completion['year_end_bulletin']} is not after documents.mid_year_bulletin.month "
             f"({completion['mid_year_bulletin']})")
    for kind in NUMBERED_KINDS:
        numbers = ((docs.get(kind) or {}).get("number") or {}).get("numbers") or {}
        for k in numbers:
            m = month(f"documents.{kind}.number.numbers.{k}", k)
            if not first <= m <= last:
                fail(f"documents.{kind}.number.numbers.{k}",
                     f"{m} lies outside the reported months {first} … {last}")

    schedule = data.get("schedule") or {}
    dom = schedule.get("day_of_month", 2)
    if isinstance(dom, bool) or not isinstance(dom, int) or not 1 <= dom <= 28:
        fail("schedule.day_of_month", f"must be a day 1 … 28, got {dom!r}")
    hhmm = schedule.get("time", "09:00")
    if isinstance(hhmm, int) and not isinstance(hhmm, bool):   # YAML reads 09:00 unquoted as 540
        hhmm = f"{hhmm // 60:02d}:{hhmm % 60:02d}" if 0 <= hhmm < 1440 else str(hhmm)
    try:
        hour, minute = (int(x) for x in str(hhmm).split(":"))
        if not (0 <= hour < 24 and 0 <= minute < 60 and len(str(hhmm)) == 5):
            raise ValueError
    except ValueError:
        fail("schedule.time", f"must be HH:MM, got {hhmm!r}")
    if "timezone" in schedule:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415
        try:
            ZoneInfo(str(schedule["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            fail("schedule.timezone", f"unknown time zone {schedule['timezone']!r}")


def ranking_indicators(weights: dict[str, float]) -> tuple[str, ...]:
    """The rates that carry a weight, in the order of SPEC §3 (开工率, 投资完成率, 及时率)."""
    return tuple(k for k in WEIGHT_KEYS if weights.get(k, 0) > 0)
