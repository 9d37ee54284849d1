"""The N8 spot-check sample: which communities are verified on site this month.

Unforeseeable before the snapshot, verifiable after it, with no stored seed: within each city,
the month's counted records are ordered by the key of ``"YYYY-MM|<snapshot SHA-256>|项目编号"``
(the snapshot's SHA-256 as recorded in ``month_loads`` and ``manifest.json``) and the first
``max(min_per_city, ceil(share × records))`` are drawn (all of them when the city has fewer).
The key is the SHA-256 of that text, or, when the province keeps a secret
(``SUPERVISION_SPOT_CHECK_SECRET``; in Airflow the Variable ``supervision_spot_check_secret``),
its HMAC-SHA256 under the secret. Anyone holding the manifest (and the secret) can redraw it:

    printf '%s' '2020-06|<snapshot sha256>|HN202000001' | sha256sum
    printf '%s' '2020-06|<snapshot sha256>|HN202000001' | openssl dgst -sha256 -hmac "$SECRET"

The population is the records the published figures are built from (valid and matched to a plan
community), so a sampled community's reported status and investment are exactly what the
ranking counted. The sample is stratified by city: every city with records is checked.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from . import warehouse as wh
from .config import FigureRules, Programme
from .months import Month

log = logging.getLogger(__name__)


SECRET_ENV = "SUPERVISION_SPOT_CHECK_SECRET"


def province_secret() -> str | None:
    """The province's sample secret (``SUPERVISION_SPOT_CHECK_SECRET``), or None when unset."""
    return os.environ.get(SECRET_ENV) or None


def sample_key(month: Month | str, snapshot_sha256: str, project_id: str,
               secret: str | None = None) -> str:
    """The ordering key of a record in the sample of ``month`` drawn from the snapshot whose
    SHA-256 is ``snapshot_sha256``: SHA-256 of ``month|sha|项目编号``, or its HMAC-SHA256 under
    ``secret``."""
    if not snapshot_sha256:
        raise ValueError(f"the sample of {month} needs its snapshot's SHA-256")
    message = f"{month}|{snapshot_sha256}|{project_id}".encode("utf-8")
    if secret:
        return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


def sample_size(population: int, rules: FigureRules) -> int:
    """max(min_per_city, ceil(share × population)), never more than the population."""
    return min(population, max(rules.spot_check_min_per_city,
                               math.ceil(rules.spot_check_share * population)))


def draw_sample(population: pd.DataFrame, month: Month | str, rules: FigureRules,
                snapshot_sha256: str, secret: str | None = None) -> pd.DataFrame:
    """The sample from a frame of (city, city_order, project_id, plan_key), one row per record."""
    frame = population.assign(sample_key=[sample_key(month, snapshot_sha256, p, secret)
                                          for p in population.project_id])
    drawn = []
    for city, group in frame.groupby("city", sort=False):
        group = group.sort_values(["sample_key", "project_id"], kind="stable")
        n = sample_size(len(group), rules)
        pick = group.head(n).assign(draw=range(1, n + 1), population=len(group), sample_size=n)
        drawn.append(pick)
    columns = ["city", "city_order", "draw", "population", "sample_size", "sample_key",
               "project_id", "plan_key"]
    if not drawn:
        return pd.DataFrame(columns=columns)
    return pd.concat(drawn)[columns].sort_values(["city_order", "draw"]).reset_index(drop=True)


def snapshot_sha256(conn: Connection, month: Month) -> str:
    """The SHA-256 of the snapshot ``month`` was loaded from (``month_loads``)."""
    load = wh.read_month(conn, "month_loads", str(month))
    if load.empty:
        raise ValueError(f"{month} has not been loaded (no month_loads row): the spot-check "
                         "sample is drawn from the loaded snapshot's SHA-256")
    return str(load.snapshot_sha256.iloc[0])


def population_query(programme: Programme, month: Month) -> tuple[str, dict[str, Any]]:
    """The sample population's query of ``month``: its name and parameters."""
    return "figures/spot_check_population", {"programme_year": programme.year,
                                             "report_month": str(month)}


def compute_spot_checks(conn: Connection, programme: Programme, month: Month,
                        secret: str | None = None) -> pd.DataFrame:
    """Draw and store the sample of ``month`` (``spot_checks``); return it with what each
    sampled record reports, in administrative order and draw order. ``secret`` defaults to
    :func:`province_secret`."""
    name, params = population_query(programme, month)
    population = wh.query(conn, name, **params)
    secret = province_secret() if secret is None else secret
    sample = draw_sample(population, month, programme.figure_rules,
                         snapshot_sha256(conn, month), secret)
    log.info("spot-check sample %s: %d of %d records (%s key)", month, len(sample),
             len(population), "HMAC-SHA256, province secret" if secret else "SHA-256")
    wh.replace_month(conn, "spot_checks", str(month), sample.assign(report_month=str(month)))
    return read_spot_checks(conn, programme, month)


def read_spot_checks(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    listed = wh.query(conn, "figures/spot_check_list", programme_year=programme.year,
                      report_month=str(month))
    return listed.sort_values(["city_order", "draw"], kind="stable").reset_index(drop=True)
