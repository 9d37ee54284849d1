"""``warehouse.replace_year_if_changed``: the year's plan rows are rewritten only when they
change (issue 17: the plan is filed once a year, 300,000 rows at national scale), on SQLite and
on a real PostgreSQL."""
from __future__ import annotations

import pandas as pd
import pytest

from supervision import warehouse as wh


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database("year_loads")


def _plan(names: list[str], households: list[int | None]) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame({
        "programme_year": [2020] * n, "plan_key": [f"长沙市|芙蓉区|{x}" for x in names],
        "source_file": ["附件2.xlsx"] * n, "source_row": list(range(5, 5 + n)),
        "city": ["长沙市"] * n, "county": ["芙蓉区"] * n, "street": [None] * n,
        "address": [None] * n, "name": names,
        "households": pd.array(households, dtype="Int64"),
        "buildings": pd.array([None] * n, dtype="Int64"), "area": pd.array([1.5] * n, dtype="Float64"),
        "built_year": pd.array([1990] * n, dtype="Int64"), "ownership": [None] * n,
        "planned_content": [None] * n, "impl_officer": [None] * n, "impl_phone": [None] * n,
        "sup_officer": [None] * n, "sup_phone": [None] * n, "unreadable": [None] * n})


def _stored(engine) -> list[tuple]:
    return [tuple(r) for r in wh.frame(engine, "SELECT plan_key, households FROM plan_communities "
                                               "WHERE programme_year = 2020 ORDER BY plan_key")
            .itertuples(index=False)]


def test_the_plan_is_written_once_and_again_only_when_it_changes(database):
    engine = wh.connect(database)
    plan = _plan(["甲", "乙"], [10, None])
    with engine.begin() as conn:
        assert wh.replace_year_if_changed(conn, "plan_communities", 2020, plan)
    with engine.begin() as conn:        # the same rows: nothing written
        assert not wh.replace_year_if_changed(conn, "plan_communities", 2020, plan.copy())
    assert _stored(engine) == [("长沙市|芙蓉区|乙", None), ("长沙市|芙蓉区|甲", 10)]
    changed = _plan(["甲", "乙"], [10, 7])   # one fact differs: rewritten
    with engine.begin() as conn:
        assert wh.replace_year_if_changed(conn, "plan_communities", 2020, changed)
    assert _stored(engine) == [("长沙市|芙蓉区|乙", 7), ("长沙市|芙蓉区|甲", 10)]
    # rows written another way, or lost, are never taken for the fingerprinted ones
    with engine.begin() as conn:
        wh.replace_year(conn, "plan_communities", 2020, _plan(["丙", "丁"], [1, 2]))
    with engine.begin() as conn:
        assert wh.replace_year_if_changed(conn, "plan_communities", 2020, changed)
    assert _stored(engine) == [("长沙市|芙蓉区|乙", 7), ("长沙市|芙蓉区|甲", 10)]
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM plan_communities WHERE name = '甲'")
    with engine.begin() as conn:
        assert wh.replace_year_if_changed(conn, "plan_communities", 2020, changed)
    assert len(_stored(engine)) == 2


def test_the_fingerprint_sees_values_types_columns_and_order():
    plan = _plan(["甲", "乙"], [10, None])
    mark = wh.fingerprint(plan)
    assert wh.fingerprint(plan.copy()) == mark
    assert wh.fingerprint(_plan(["甲", "乙"], [10, 0])) != mark
    assert wh.fingerprint(plan.iloc[::-1].reset_index(drop=True)) != mark
    assert wh.fingerprint(plan.rename(columns={"street": "road"})) != mark
    assert wh.fingerprint(plan.astype({"households": "float64"})) != mark
    assert wh.fingerprint(plan.astype({"households": "float64"}).astype(
        {"households": "Int64"})) == mark
    # a frame Arrow cannot carry (mixed objects) is fingerprinted by pandas' hashes instead
    mixed = plan.assign(ownership=pd.Series([1, "公房"], dtype=object))
    assert wh.fingerprint(mixed) == wh.fingerprint(mixed.copy())
    assert wh.fingerprint(mixed) != wh.fingerprint(mixed.assign(ownership=pd.Series(
        [2, "公房"], dtype=object)))
