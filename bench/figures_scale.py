"""How long the figure stage's queries take on a synthetic warehouse of N communities, on SQLite
and on a throwaway PostgreSQL server (a measurement, not a test).

    PYTHONPATH=plugins .venv/bin/python bench/figures_scale.py 300000 sqlite pg

Writes the targets, the plan and one month of records straight into the warehouse (no ingest,
no quality), then times each compute_* function of the figures stage for June 2020.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from supervision import early_warning, figures, spot_check, watch_lists
from supervision import warehouse as wh
from supervision.config import load_programme
from supervision.months import Month

MONTH = Month(2020, 6)
STEPS = [("city_figures", figures.compute_city_figures), ("overdue", figures.compute_overdue),
         ("early_warning", early_warning.compute_early_warnings),
         ("spot_checks", spot_check.compute_spot_checks),
         ("basic_category", watch_lists.compute_basic_category_list),
         ("elevators", watch_lists.compute_elevator_list)]


def synthetic(n: int, seed: int = 1) -> tuple[list, list, list]:
    rng = random.Random(seed)
    cities = [c.name for c in load_programme(2020).province.cities]
    targets = [{"programme_year": 2020, "city": c, "city_order": i + 1, "target_count": n // len(cities)}
               for i, c in enumerate(cities)]
    plan, records = [], []
    for i in range(n):
        city, county, name = cities[i % len(cities)], f"区{i % 50}", f"小区{i}"
        key = f"{city}|{county}|{name}"
        plan.append({"programme_year": 2020, "plan_key": key, "source_row": i + 5, "city": city,
                     "county": county, "name": name, "households": rng.randint(20, 900)})
        if rng.random() < 0.01:
            continue                                           # missing from the export
        status = rng.choice(["未开工", "已开工", "已完工"])
        start = None if status == "未开工" else \
            (date(2020, 5, 1) + timedelta(days=rng.randint(0, 60))).isoformat()
        records.append({
            "report_month": str(MONTH), "source_row": i + 2, "source_file": "bench", "project_id": f"HN{i:07d}",
            "city": city, "county": county, "name": name, "plan_key": key, "status": status,
            "start_date": start, "finish_date": start if status == "已完工" else None,
            "planned_invest_yuan": rng.randint(10**5, 10**8), "done_invest_yuan": rng.randint(0, 10**7),
            "central_subsidy_yuan": rng.randint(0, 10**6),
            "basic_items": rng.choice([None, "供水", "供水、排水", "供水、排水、供电"]),
            "improve_items": rng.choice([None, "绿化、照明"]), "elevators": rng.choice([0, 0, 0, 1, 2]),
            "review_status": rng.choice(["已审核", "待审核"]), "reported_date": "2020-06-15",
            "is_valid": rng.random() < 0.99})
    return targets, plan, records


def run(url: str, data: tuple[list, list, list]) -> None:
    targets, plan, records = data
    engine = wh.connect(url)
    programme = load_programme(2020)
    started = time.perf_counter()
    with engine.begin() as conn:
        wh.replace_year(conn, "targets", 2020, targets)
        wh.replace_year(conn, "plan_communities", 2020, plan)
        wh.replace_month(conn, "monthly_records", str(MONTH), records)
    print(f"{engine.dialect.name}: {len(plan)} communities loaded in {time.perf_counter() - started:.1f} s")
    with engine.begin() as conn:
        for name, step in STEPS:
            started = time.perf_counter()
            rows = step(conn, programme, MONTH)
            print(f"  {name:15s} {len(rows):>8} rows  {time.perf_counter() - started:6.2f} s", flush=True)
    engine.dispose()


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 300_000
    kinds = argv[1:] or ["sqlite"]
    data = synthetic(n)
    if "sqlite" in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{Path(tmp) / 'warehouse.db'}", data)
    if "pg" in kinds:
        from supervision.testing_postgres import throwaway_postgres  # noqa: PLC0415

        with throwaway_postgres() as server:
            run(server.create_database("bench_figures"), data)


if __name__ == "__main__":
    main(sys.argv[1:])
