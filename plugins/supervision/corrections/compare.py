"""A month's new results against a sent version, value by value.

Compared: every column of ``ranking.csv`` for every city and 全省 (counts, rates, 综合得分, every
rank and every 较上月 column), the rows of ``overdue.csv`` (keyed by 市州, 所在县市区, 小区名称,
项目编号, 原因: a row is added, removed, or its other columns changed), which cities have a 督办通知,
and the lists attached to the notices (``notices/<code>.xlsx``: the officers and their phones).
The values are the csv's own text (rates unrounded), so "identical" means identical figures.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Programme
from ..figures import PROVINCE_ROW

RANKING, OVERDUE, NOTICES = "ranking.csv", "overdue.csv", "督办通知"
OVERDUE_KEY = ("市州", "所在县市区", "小区名称", "项目编号", "原因")
LISTED, NOT_LISTED = "列入清单", "不列入清单"
NOTICE_DUE, NOTICE_NOT_DUE = "督办", "不督办"
CHANGES_HEADER = ("文件", "市州", "项目", "原值", "更正值")
#: not compared in a notice's list: the key, and the row's position (序号 moves when a row goes)
LIST_IGNORED = OVERDUE_KEY + ("序号",)


@dataclass(frozen=True)
class Change:
    file: str      # ranking.csv | overdue.csv | 督办通知 | notices/<code>.xlsx
    city: str
    item: str      # the column, or the overdue row (community, reason)
    old: str
    new: str

    def row(self) -> tuple[str, str, str, str, str]:
        return (self.file, self.city, self.item, self.old, self.new)


@dataclass
class Comparison:
    against: int                                   # the sent version compared with
    changes: list[Change] = field(default_factory=list)
    notices_added: list[str] = field(default_factory=list)     # cities newly needing a notice
    notices_removed: list[str] = field(default_factory=list)   # cities whose notice is no longer due
    notices_changed: list[str] = field(default_factory=list)   # still due, their list changed

    @property
    def identical(self) -> bool:
        return not self.changes

    def cities(self) -> list[str]:
        return list(dict.fromkeys(c.city for c in self.changes))


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        return [], []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def compare_ranking(old: Path, new: Path) -> list[Change]:
    old_cols, old_rows = _rows(old / RANKING)
    new_cols, new_rows = _rows(new / RANKING)
    columns = [c for c in new_cols if c != "市州"] + [c for c in old_cols if c not in new_cols]
    before = {r["市州"]: r for r in old_rows}
    after = {r["市州"]: r for r in new_rows}
    cities = list(after) + [c for c in before if c not in after]
    out = []
    for city in cities:
        a, b = before.get(city, {}), after.get(city, {})
        for col in columns:
            if a.get(col, "") != b.get(col, ""):
                out.append(Change(RANKING, city, col, a.get(col, ""), b.get(col, "")))
    return out


def _overdue_item(row: dict[str, str]) -> str:
    pid = row.get("项目编号") or "无项目编号"
    return f"{row.get('所在县市区', '')} {row.get('小区名称', '')}（{pid}）：{row.get('原因说明') or row.get('原因', '')}"


def compare_overdue(old: Path, new: Path) -> list[Change]:
    _, old_rows = _rows(old / OVERDUE)
    _, new_rows = _rows(new / OVERDUE)
    key = lambda r: tuple(r.get(k, "") for k in OVERDUE_KEY)  # noqa: E731
    before = {key(r): r for r in old_rows}
    after = {key(r): r for r in new_rows}
    out = []
    for k, r in before.items():          # removed, in the sent list's order
        if k not in after:
            out.append(Change(OVERDUE, r["市州"], _overdue_item(r), LISTED, NOT_LISTED))
    for k, r in after.items():           # added or changed, in the new list's order
        if k not in before:
            out.append(Change(OVERDUE, r["市州"], _overdue_item(r), NOT_LISTED, LISTED))
            continue
        for col, value in r.items():
            if col not in OVERDUE_KEY and before[k].get(col, "") != value:
                out.append(Change(OVERDUE, r["市州"], f"{_overdue_item(r)} {col}",
                                  before[k].get(col, ""), value))
    return out


def _notice_codes(folder: Path) -> list[str]:
    return sorted(p.stem for p in (folder / "notices").glob("*.pdf"))


def _cell_text(value: object) -> str:
    """A cell as the list's text: whole numbers without ``.0`` (calamine reads every number as a
    float; the list's columns other than 序号 are written as text)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _list_rows(path: Path) -> dict[tuple[str, ...], dict[str, str]]:
    """The rows of a notice's list (xlsx), keyed like the overdue list; duplicate headers (the
    two 联系电话) are named after the column before them. Read with calamine: openpyxl took 37 s
    of a 300,000-community rerun's 47.6 s of documents (docs/benchmarks.md, seventh part)."""
    from python_calamine import CalamineWorkbook  # noqa: PLC0415

    with CalamineWorkbook.from_path(str(path)) as wb:
        rows = [[_cell_text(v) for v in row] for row in wb.get_sheet_by_index(0).to_python()]
    head = next((i for i, r in enumerate(rows) if "小区名称" in r and "原因" in r), None)
    if head is None:
        return {}
    names: list[str] = []
    for i, h in enumerate(rows[head]):
        names.append(f"{names[-1]}{h}" if h in rows[head][:i] and names else h)
    out = {}
    for r in rows[head + 1:]:
        rec = dict(zip(names, r))
        if not rec.get("小区名称"):
            break
        out[tuple(rec.get(k, "") for k in OVERDUE_KEY)] = rec
    return out


def compare_notices(old: Path, new: Path, programme: Programme) -> tuple[list[Change], list[str], list[str], list[str]]:
    before, after = set(_notice_codes(old)), set(_notice_codes(new))
    out, added, removed, changed = [], [], [], []
    for c in programme.province.cities:
        if c.code in after and c.code not in before:
            added.append(c.name)
            out.append(Change(NOTICES, c.name, "督办通知", NOTICE_NOT_DUE, NOTICE_DUE))
        elif c.code in before and c.code not in after:
            removed.append(c.name)
            out.append(Change(NOTICES, c.name, "督办通知", NOTICE_DUE, NOTICE_NOT_DUE))
        elif c.code in before:
            rel = f"notices/{c.code}.xlsx"
            a = _list_rows(old / rel) if (old / rel).is_file() else {}
            b = _list_rows(new / rel) if (new / rel).is_file() else {}
            diffs = []
            for k, rec in b.items():     # added/removed rows are in the overdue list's changes
                if k in a:
                    for col, value in rec.items():
                        if col not in LIST_IGNORED and a[k].get(col, "") != value:
                            diffs.append(Change(rel, c.name, f"{_overdue_item(rec)} {col}",
                                                a[k].get(col, ""), value))
            if diffs or set(a) != set(b):
                changed.append(c.name)
            out.extend(diffs)
    return out, added, removed, changed


def compare(old: Path, new: Path, programme: Programme, against: int) -> Comparison:
    """Every changed value of the folder ``new`` against the sent version folder ``old``."""
    notices, added, removed, changed = compare_notices(old, new, programme)
    ranking = compare_ranking(old, new)
    order = {c.name: i for i, c in enumerate(programme.province.cities)}
    order[PROVINCE_ROW] = len(order)
    ranking.sort(key=lambda c: order.get(c.city, len(order) + 1))   # stable: columns stay in order
    return Comparison(against, ranking + compare_overdue(old, new) + notices, added, removed, changed)
