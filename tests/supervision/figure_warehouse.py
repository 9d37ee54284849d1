"""Small hand-made warehouses for the figure tests, written straight into the tables the figures
read (targets, plan_communities, monthly_records, quarantine) — no sample data, no ingest — and
the ``figure_db`` fixture that gives each test an empty warehouse on SQLite and on PostgreSQL.

Import the fixture into a test module with ``from tests.supervision.figure_warehouse import
figure_db  # noqa: F401``.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from supervision import warehouse as wh
from supervision.ingest import plan_key

YEAR = 2020


def wan(value: str | int) -> int:
    """万元 written as text → integer 元, exactly ("123.45" → 1,234,500)."""
    return int(Decimal(str(value)) * 10000)


@dataclass
class Community:
    city: str
    county: str
    name: str
    households: int | None
    project_id: str

    @property
    def key(self) -> str:
        return plan_key(self.city, self.county, self.name)


@dataclass
class Builder:
    """Targets, plan and records of one programme year; ``load`` writes them (replacing)."""
    year: int = YEAR
    targets: list[dict[str, Any]] = field(default_factory=list)
    plan: list[Community] = field(default_factory=list)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    quarantine: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def city(self, name: str, target: int, order: int) -> "Builder":
        self.targets.append({"programme_year": self.year, "city": name, "city_order": order,
                             "target_count": target})
        return self

    def community(self, city: str, county: str, name: str, households: int | None = 100) -> Community:
        c = Community(city, county, name, households, f"HN{self.year}{next(self._ids):05d}")
        self.plan.append(c)
        return c

    def record(self, month: str, c: Community, *, status: str = "未开工", start: str | None = None,
               finish: str | None = None, planned: str | int = 0, done: str | int = 0,
               review: str | None = "已审核", reported: str | None = None, valid: bool = True,
               project_id: str | None = None, plan_mismatch: str | None = None,
               rule_ids: str | None = None, elevators: int | None = 0,
               basic: str | None = "供水管网改造、排水管网改造", improve: str | None = None,
               upgrade: str | None = None, central: str | int = 0, provincial: str | int = 0,
               impl_officer: str | None = "王伟", sup_officer: str | None = "李娜") -> dict[str, Any]:
        rows = self.records.setdefault(month, [])
        row = {
            "report_month": month, "source_row": len(rows) + 2, "source_file": f"export_{month}.xlsx",
            "project_id": project_id or c.project_id,
            "city": c.city, "county": c.county, "name": c.name, "plan_key": c.key,
            "households": c.households, "status": status, "start_date": start, "finish_date": finish,
            "planned_invest_yuan": wan(planned), "done_invest_yuan": wan(done),
            "central_subsidy_yuan": wan(central), "provincial_subsidy_yuan": wan(provincial),
            "basic_items": basic, "improve_items": improve, "upgrade_items": upgrade,
            "elevators": elevators, "impl_officer": impl_officer, "impl_phone": "13800000000",
            "sup_officer": sup_officer, "sup_phone": "0731-88950212",
            "reported_at": f"{reported} 10:00:00" if reported else None, "reported_date": reported,
            "review_status": review, "plan_mismatch": plan_mismatch, "is_valid": valid,
        }
        rows.append(row)
        if not valid:
            self.quarantine.setdefault(month, []).append({
                "report_month": month, "source_row": row["source_row"],
                "source_file": row["source_file"], "project_id": row["project_id"],
                "city": c.city, "county": c.county, "name": c.name,
                "rule_ids": rule_ids or "DATE_AFTER_SNAPSHOT", "reasons": "日期晚于导出日期"})
        return row

    def load(self, engine: Engine, months: list[str] | None = None) -> None:
        with engine.begin() as conn:
            wh.replace_year(conn, "targets", self.year, self.targets)
            wh.replace_year(conn, "plan_communities", self.year, [
                {"programme_year": self.year, "plan_key": c.key, "source_file": f"{self.year}.xlsx",
                 "source_row": i + 5,
                 "city": c.city, "county": c.county, "name": c.name, "households": c.households}
                for i, c in enumerate(self.plan)])
            for month in months or sorted(self.records):
                wh.replace_month(conn, "monthly_records", month, self.records.get(month, []))
                wh.replace_month(conn, "quarantine", month, self.quarantine.get(month, []))
                wh.replace_month(conn, "month_loads", month, [self.month_load(month)])

    def month_load(self, month: str) -> dict:
        """The month's load record; its snapshot SHA-256 (of the text "snapshot YYYY-MM") keys
        the spot-check sample."""
        n = len(self.records.get(month, []))
        return {"report_month": month, "programme_year": self.year, "kind": "full",
                "snapshot_file": f"export_{month}.xlsx", "snapshot_date": f"{month}-28",
                "snapshot_sha256": snapshot_sha256(month), "plan_sha256": "p", "targets_sha256": "t",
                "rows_read": n, "rows_accepted": n, "rows_quarantined": 0}


def snapshot_sha256(month: str) -> str:
    return hashlib.sha256(f"snapshot {month}".encode()).hexdigest()


def june_2020() -> Builder:
    """The hand-computed warehouse of tests/supervision/test_figures.py (its docstring)."""
    b = Builder()
    for order, (city, target) in enumerate([("长沙市", 4), ("株洲市", 2), ("湘潭市", 2), ("衡阳市", 0),
                                            ("邵阳市", 3), ("岳阳市", 2)], start=1):
        b.city(city, target, order)
    c1 = b.community("长沙市", "芙蓉区", "东风小区", 100)
    c2 = b.community("长沙市", "天心区", "建设新村", 200)
    c3 = b.community("长沙市", "岳麓区", "人民路宿舍", 300)
    c4 = b.community("长沙市", "开福区", "五一花园", 400)
    z1 = b.community("株洲市", "荷塘区", "纺织厂宿舍", 50)
    z2 = b.community("株洲市", "芦淞区", "机械厂家属区", 150)
    x1 = b.community("湘潭市", "雨湖区", "电机厂小区", 80)
    x2 = b.community("湘潭市", "岳塘区", "钢铁厂生活区", 120)
    h1 = b.community("衡阳市", "珠晖区", "粮食局宿舍", 60)
    b.community("邵阳市", "双清区", "印染厂宿舍", 100)
    b.community("邵阳市", "大祥区", "糖酒公司宿舍", 100)
    b.community("邵阳市", "北塔区", "木材公司宿舍", 100)
    y1 = b.community("岳阳市", "岳阳楼区", "印刷厂宿舍", 90)
    y2 = b.community("岳阳市", "君山区", "汽车站小区", 110)

    # May: only 长沙市 reports
    m = "2020-05"
    b.record(m, c1, status="已完工", start="2020-05-03", finish="2020-05-25", planned="100.50",
             done="100.50", reported="2020-05-28")
    b.record(m, c2, planned="200.25", reported="2020-05-15")
    b.record(m, c3, planned="300", review="待审核", reported="2020-05-10")
    b.record(m, c4, planned="99.25", reported="2020-05-20")

    j = "2020-06"
    b.record(j, c1, status="已完工", start="2020-05-03", finish="2020-05-25", planned="100.50",
             done="100.50", reported="2020-05-28", elevators=1)
    b.record(j, c2, status="已开工", start="2020-06-01", planned="200.25", done="50.05",
             reported="2020-06-30", elevators=2, basic=None, central="10")
    b.record(j, c3, planned="300", review="待审核", reported="2020-06-10", basic="供水管网改造",
             improve="加装电梯、绿化提质", provincial="5")
    b.record(j, c4, status="已开工", start="2020-07-01", planned="99.25", reported="2020-07-01",
             basic="供水管网改造、排水管网改造", improve="绿化提质、照明改造", central="20")
    b.record(j, z1, status="已开工", start="2020-05-10", planned="10", review="待审核",
             reported="2020-06-15")
    b.record(j, z2, status="已开工", start="2020-05-20", planned="10", review="待审核",
             reported="2020-06-16")
    b.record(j, x1, planned="10", done="15", reported="2020-06-11", elevators=3)
    b.record(j, x2, planned="10", done="15", reported="2020-06-12")
    b.record(j, h1, status="已开工", start="2020-06-05", planned="50", done="5",
             reported="2020-06-20")
    b.record(j, y1, status="已开工", start="2020-06-10", planned="40", done="10",
             reported="2020-06-18", valid=False, plan_mismatch="涉及户数",
             rule_ids="DATE_AFTER_SNAPSHOT", elevators=1, basic=None)
    b.record(j, y2, status="已开工", start="2020-05-20", planned="80", done="20",
             reported="2020-05-31")
    return b



def _database_name(nodeid: str) -> str:
    return "t_" + hashlib.sha256(nodeid.encode()).hexdigest()[:20]


def new_warehouse(kind: str, request, tmp_path) -> Engine:
    """An empty warehouse: a SQLite file, or a fresh database on the session's PostgreSQL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(_database_name(request.node.nodeid + kind))
    return wh.connect(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def figure_db(request, tmp_path) -> Engine:
    engine = new_warehouse(request.param, request, tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture()
def both_dbs(request, tmp_path) -> tuple[Engine, Engine]:
    """An empty SQLite and an empty PostgreSQL warehouse, for comparing their results."""
    (tmp_path / "sqlite").mkdir()
    lite = new_warehouse("sqlite", request, tmp_path / "sqlite")
    pg = new_warehouse("postgresql", request, tmp_path)
    yield lite, pg
    lite.dispose()
    pg.dispose()


def comparable(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values, Decimal (PostgreSQL's sums) as int. Boolean columns are
    made bool by the modules' read functions."""
    out = []
    for r in wh.records(frame):
        out.append({k: (int(v) if isinstance(v, Decimal) else v) for k, v in r.items()})
    return out
