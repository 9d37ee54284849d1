"""Bounds on what one cell of an input may hold (``thresholds`` of quality_rules.yaml).

A value beyond them is not data: an 18-digit ID number pasted into 计划总投资, a 21-digit 户数.
The ingest keeps it out of the frame (empty) and records it for ``VALUE_OUT_OF_RANGE``, with its
row and column; so every number that reaches the warehouse is small enough that no sum of a
month can overflow a 64-bit integer (SQLite's INTEGER; PostgreSQL's SUM(bigint) is NUMERIC).
A cell longer than ``max_cell_chars`` (Excel's own limit) is cut and recorded for
``CELL_TOO_LONG``. Both are blocking rules: the record is quarantined, never lost.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from . import paths

#: suffixes of the keys of a record's ``unreadable`` JSON that are not "cannot be read" but
#: "read, and out of range" / "read, and too long"
OUT_OF_RANGE = ":range"
TOO_LONG = ":long"
#: how much of a too-long cell is kept (frame, quarantine file, warehouse)
KEPT_CHARS = 200


@dataclass(frozen=True)
class Limits:
    money_yuan: int
    households: int
    buildings: int
    area: float
    elevators: int
    max_cell_chars: int

    def of(self, key: str) -> int | float | None:
        """The bound of a field key of the export or the plan (None: no bound)."""
        if key in ("planned_invest", "done_invest", "central_subsidy", "central_budget",
                   "provincial_subsidy", "local_funds", "social_funds"):
            return self.money_yuan
        return {"households": self.households, "buildings": self.buildings, "area": self.area,
                "elevators": self.elevators}.get(key)


@lru_cache(maxsize=None)
def limits(config_dir: Path | None = None) -> Limits:
    path = (config_dir or paths.config_dir()) / "quality_rules.yaml"
    with path.open(encoding="utf-8") as f:
        t = yaml.safe_load(f)["thresholds"]
    v = t["value_limits"]
    return Limits(money_yuan=int(v["money_wan"]) * 10000, households=int(v["households"]),
                  buildings=int(v["buildings"]), area=float(v["area_wan_m2"]),
                  elevators=int(v["elevators"]), max_cell_chars=int(t["max_cell_chars"]))
