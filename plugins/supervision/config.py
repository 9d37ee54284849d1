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

    def canonical_city(self, name: str) -> str | None:
        """The configured spelling of a city name, or None when it is not one of ours."""
        for c in self.cities:
            if name == c.name or name in c.aliases:
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
            City(name=c["name"], code=c["code"], order=i + 1, aliases=tuple(c.get("aliases", ())))
            for i, c in enumerate(data["cities"])
        )
        return Province(key=key, name=data["name"], short_name=data.get("short_name", ""),
                        cities=cities)
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: malformed province file ({exc})") from exc


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
