"""The N8 spot-check sample: which communities are verified on site this month.

Reproducible from the month alone, with no stored seed: within each city, the month's counted
records are ordered by ``sha256("YYYY-MM|项目编号")`` (lower-case hex, compared as text) and the
first ``max(min_per_city, ceil(share × records))`` are drawn (all of them when the city has
fewer). Anyone holding the month's records can redraw the sample, e.g. in a shell:

    printf '%s' '2020-06|HN202000001' | sha256sum

The population is the records the published figures are built from (valid and matched to a plan
community), so a sampled community's reported status and investment are exactly what the
ranking counted. The sample is stratified by city: every city with records is checked.
"""
from __future__ import annotations

import hashlib
import math

import pandas as pd
from sqlalchemy import Connection

from . import warehouse as wh
from .config import FigureRules, Programme
from .months import Month


def sample_key(month: Month | str, project_id: str) -> str:
    """The ordering key of a record in the sample of ``month``."""
    return hashlib.sha256(f"{month}|{project_id}".encode("utf-8")).hexdigest()


def sample_size(population: int, rules: FigureRules) -> int:
    """max(min_per_city, ceil(share × population)), never more than the population."""
    return min(population, max(rules.spot_check_min_per_city,
                               math.ceil(rules.spot_check_share * population)))


def draw_sample(population: pd.DataFrame, month: Month | str, rules: FigureRules) -> pd.DataFrame:
    """The sample from a frame of (city, city_order, project_id, plan_key), one row per record."""
    frame = population.assign(sample_key=[sample_key(month, p) for p in population.project_id])
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


def compute_spot_checks(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    """Draw and store the sample of ``month`` (``spot_checks``); return it with what each
    sampled record reports, in administrative order and draw order."""
    population = wh.query(conn, "figures/spot_check_population", programme_year=programme.year,
                          report_month=str(month))
    sample = draw_sample(population, month, programme.figure_rules)
    wh.replace_month(conn, "spot_checks", str(month), sample.assign(report_month=str(month)))
    return read_spot_checks(conn, programme, month)


def read_spot_checks(conn: Connection, programme: Programme, month: Month) -> pd.DataFrame:
    listed = wh.query(conn, "figures/spot_check_list", programme_year=programme.year,
                      report_month=str(month))
    return listed.sort_values(["city_order", "draw"], kind="stable").reset_index(drop=True)
