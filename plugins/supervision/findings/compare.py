"""Each sampled record's 结论: what the inspectors found against what the month's counted record
reported (the record the published figures were built from).

- ``STATUS_FALSIFIED``: reported 已开工 or 已完工, found 未开工; or reported 已完工, found 已开工
  (the status found is behind the status reported);
- ``INVESTMENT_OVERSTATED``: reported 累计完成投资 exceeds the verified amount by more than
  max(``investment_tolerance_wan`` 万元, ``investment_tolerance_share`` × verified amount) —
  1 万元 and 5 % by default, per programme (``spot_check`` in ``programmes/<year>.yaml``);
- ``NOT_CHECKED``: every 核实 cell empty, or the record not in the returned file;
- ``CONSISTENT`` otherwise (a verified amount above the reported one is not falsification).

A record with both a false status and overstated money is ``STATUS_FALSIFIED`` with
``investment_overstated`` set, so the bulletin names both. Compared exactly: money in integer 元,
the tolerance as the decimal written in the configuration.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pandas as pd

from .. import paths
from ..config import ConfigError, Programme, _load_yaml, exact_decimal
from ..quality import STATUS_ORDER
from . import CONSISTENT, INVESTMENT_OVERSTATED, NOT_CHECKED, STATUS_FALSIFIED


@dataclass(frozen=True)
class Tolerance:
    wan: Fraction = Fraction(1)           # 万元
    share: Fraction = Fraction(5, 100)    # of the verified amount

    def allowed_yuan(self, verified_yuan: int) -> Fraction:
        return max(self.wan * 10000, self.share * verified_yuan)


def tolerance(programme: Programme) -> Tolerance:
    """The programme's investment tolerance (``spot_check.investment_tolerance_wan`` / ``_share``)."""
    path = paths.config_dir() / "programmes" / f"{programme.year}.yaml"
    section = dict((_load_yaml(path) if path.exists() else {}).get("spot_check") or {})
    default = Tolerance()
    try:
        t = Tolerance(exact_decimal(section.get("investment_tolerance_wan", default.wan)),
                      exact_decimal(section.get("investment_tolerance_share", default.share)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: spot_check.investment_tolerance_* must be numbers ({exc})") from exc
    if t.wan < 0 or not 0 <= t.share <= 1:
        raise ConfigError(f"{path}: spot_check.investment_tolerance_* out of range ({t})")
    return t


def _int(value: Any) -> int | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return int(value)


def conclude(reported_status: str | None, verified_status: str | None,
             reported_yuan: int | None, verified_yuan: int | None,
             checked: bool, tol: Tolerance) -> tuple[str, bool]:
    """(结论, investment overstated) of one record."""
    if not checked:
        return NOT_CHECKED, False
    overstated = (reported_yuan is not None and verified_yuan is not None
                  and reported_yuan - verified_yuan > tol.allowed_yuan(verified_yuan))
    now, found = STATUS_ORDER.get(reported_status or ""), STATUS_ORDER.get(verified_status or "")
    if now is not None and found is not None and found < now:
        return STATUS_FALSIFIED, overstated
    return (INVESTMENT_OVERSTATED if overstated else CONSISTENT), overstated


def compare(sample: pd.DataFrame, found: pd.DataFrame, tol: Tolerance,
            signals: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per sampled record (the sample's order): reported vs verified and the 结论."""
    by_id = {r["project_id"]: r for r in found.to_dict("records")}
    signals = signals or {}
    rows = []
    for r in sample.to_dict("records"):
        f = by_id.get(r["project_id"], {})
        checked = bool(f.get("checked", False))
        reported_yuan, verified_yuan = _int(r.get("done_invest_yuan")), _int(f.get("verified_invest_yuan"))
        conclusion, overstated = conclude(r.get("status"), f.get("verified_status"), reported_yuan,
                                          verified_yuan, checked, tol)
        rows.append({
            "city": r["city"], "city_order": int(r["city_order"]), "draw": int(r["draw"]),
            "project_id": r["project_id"], "plan_key": r["plan_key"], "county": r.get("county"),
            "name": r.get("name"), "reported_status": r.get("status"),
            "verified_status": f.get("verified_status"),
            "reported_invest_yuan": reported_yuan, "verified_invest_yuan": verified_yuan,
            "conclusion": conclusion, "investment_overstated": overstated,
            "verified_note": f.get("verified_note"), "inspector": f.get("inspector"),
            "checked_on": f.get("checked_on"), "impl_officer": r.get("impl_officer"),
            "sup_officer": r.get("sup_officer"), "signals": signals.get(r["project_id"]),
            "source_row": f.get("source_row"),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


COLUMNS = ["city", "city_order", "draw", "project_id", "plan_key", "county", "name",
           "reported_status", "verified_status", "reported_invest_yuan", "verified_invest_yuan",
           "conclusion", "investment_overstated", "verified_note", "inspector", "checked_on",
           "impl_officer", "sup_officer", "signals", "source_row"]
