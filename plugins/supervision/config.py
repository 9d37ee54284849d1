"""Programme-year and province configuration (``include/config/``).

The notice fixes targets, deadlines, weights and the expected path for one programme year; a
province fixes its cities and their administrative order. Both are YAML files, so adding a year
or a province is a data change, never a code change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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

        Linear in months, 0 before ``start``, ``target`` from ``end`` on. Returned as integers
        so the lag rule compares exactly (the SQL compares rate × den with num).
        """
        span = self.end.months_since(self.start)
        done = min(max(month.months_since(self.start), 0), span)
        # target as a fraction of 1000 (targets are given to at most 3 decimals)
        target_milli = round(self.target * 1000)
        return target_milli * done, 1000 * span


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
        )
    except KeyError as exc:
        raise ConfigError(f"{path}: missing key {exc}") from exc


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
