"""The N8 spot-check sample: unforeseeable before the snapshot (its SHA-256 is in the key, and
optionally a province secret), redrawable after it, stratified by city."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from supervision import spot_check as sc
from supervision import warehouse as wh
from supervision.config import FigureRules, load_programme
from supervision.months import Month

from tests.supervision.figure_warehouse import figure_db, june_2020, snapshot_sha256  # noqa: F401

SHA = "51eb22fc5f6590290237a3b9080bc51b5c7275074d0d9876de349cf858d35f3d"   # of "snapshot 2020-06"


def test_the_key_is_sha256_of_month_snapshot_and_project_id():
    assert snapshot_sha256("2020-06") == SHA
    # printf '%s' "2020-06|$SHA|HN202000003" | sha256sum
    key = sc.sample_key(Month(2020, 6), SHA, "HN202000003")
    assert key == hashlib.sha256(f"2020-06|{SHA}|HN202000003".encode()).hexdigest()
    assert key.startswith("8277f8")
    # another snapshot of the same month, another order: nobody can compute it beforehand
    assert sc.sample_key("2020-06", "0" * 64, "HN202000003") != key
    # printf '%s' "2020-06|$SHA|HN202000003" | openssl dgst -sha256 -hmac s3cret
    keyed = sc.sample_key("2020-06", SHA, "HN202000003", secret="s3cret")
    assert keyed == hmac.new(b"s3cret", f"2020-06|{SHA}|HN202000003".encode(), "sha256").hexdigest()
    assert keyed != key
    with pytest.raises(ValueError, match="SHA-256"):
        sc.sample_key("2020-06", "", "HN202000003")


def test_the_secret_comes_from_the_environment(figure_db, monkeypatch):
    june_2020().load(figure_db)
    monkeypatch.setenv(sc.SECRET_ENV, "s3cret")
    with figure_db.begin() as conn:
        sample = sc.compute_spot_checks(conn, load_programme(2020), Month(2020, 6))
    assert sample.sample_key.iloc[0] == sc.sample_key("2020-06", SHA, sample.project_id.iloc[0],
                                                      "s3cret")


def test_no_sample_without_a_loaded_snapshot(figure_db):
    june_2020().load(figure_db)
    with figure_db.begin() as conn:
        conn.exec_driver_sql("DELETE FROM month_loads")
        with pytest.raises(ValueError, match="has not been loaded"):
            sc.compute_spot_checks(conn, load_programme(2020), Month(2020, 6))


def test_sample_size():
    rules = FigureRules(spot_check_share=Fraction(1, 20), spot_check_min_per_city=2)
    assert [sc.sample_size(n, rules) for n in (0, 1, 2, 3, 40, 41, 100, 136)] == \
        [0, 1, 2, 2, 2, 3, 5, 7]


def test_the_sample_of_the_hand_made_warehouse(figure_db):
    june_2020().load(figure_db)
    with figure_db.begin() as conn:
        sample = sc.compute_spot_checks(conn, load_programme(2020), Month(2020, 6))
    got = [(r["city"], r["draw"], r["project_id"], r["population"], r["sample_size"])
           for r in wh.records(sample)]
    # keys (sha256sum of "2020-06|$SHA|id", first hex digits): 长沙市 …04 0f1f < …03 8277 <
    # …01 c54c < …02 e745; 株洲市 …06 7a76 < …05 ef62; 湘潭市 …07 3327 < …08 4f08; 邵阳市 has
    # no record; 岳阳市's invalid record is not drawn
    assert got == [
        ("长沙市", 1, "HN202000004", 4, 2), ("长沙市", 2, "HN202000003", 4, 2),
        ("株洲市", 1, "HN202000006", 2, 2), ("株洲市", 2, "HN202000005", 2, 2),
        ("湘潭市", 1, "HN202000007", 2, 2), ("湘潭市", 2, "HN202000008", 2, 2),
        ("衡阳市", 1, "HN202000009", 1, 1),
        ("岳阳市", 1, "HN202000014", 1, 1),
    ]
    second = wh.records(sample)[1]
    assert (second["name"], second["status"], second["review_status"]) == ("人民路宿舍", "未开工", "待审核")


@given(st.dictionaries(st.sampled_from(["长沙市", "株洲市", "湘潭市"]),
                       st.sets(st.text("0123456789", min_size=1, max_size=8), max_size=60),
                       max_size=3),
       st.integers(2020, 2021), st.integers(1, 12))
def test_the_sample_is_the_smallest_keys_of_each_city(cities, year, m):
    month = Month(year, m)
    rules = FigureRules()
    population = pd.DataFrame(
        [(city, i, f"HN{pid}", f"k{city}{pid}") for i, (city, ids) in enumerate(cities.items())
         for pid in ids], columns=["city", "city_order", "project_id", "plan_key"])
    sample = sc.draw_sample(population, month, rules, SHA)
    for city, ids in cities.items():
        keys = sorted(hashlib.sha256(f"{month}|{SHA}|HN{p}".encode()).hexdigest() for p in ids)
        drawn = sample[sample.city == city]
        assert list(drawn.sample_key) == keys[:sc.sample_size(len(ids), rules)]
        assert list(drawn.draw) == list(range(1, len(drawn) + 1))
    # redrawing gives the same sample
    assert sc.draw_sample(population.iloc[::-1], month, rules, SHA).equals(sample)


def test_the_sample_changes_with_the_month_and_the_configuration(figure_db):
    june_2020().load(figure_db)
    everything = replace(load_programme(2020),
                         figure_rules=FigureRules(spot_check_share=Fraction(1)))
    with figure_db.begin() as conn:
        full = sc.compute_spot_checks(conn, everything, Month(2020, 6))
    assert len(full) == 10           # every counted record of the month
