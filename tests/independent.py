"""A deliberately plain re-computation of a month's per-city figures straight from the landing
files — openpyxl and csv only, none of the pipeline's code — so the end-to-end test compares the
pipeline against something it did not compute itself."""
from __future__ import annotations

import csv
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

import openpyxl

MONEY = ["计划总投资(万元)", "累计完成投资(万元)", "中央补助资金(万元)", "中央预算内资金(万元)",
         "省级补助资金(万元)", "市县配套资金(万元)", "社会及居民出资(万元)"]
ALIASES = {"户数": "涉及户数(户)", "楼栋数": "小区内楼栋数(栋)"}


def norm(v) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(v))) if v is not None else ""


def read_grid(path: Path) -> list[list]:
    if path.suffix == ".csv":
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
        return [list(r) for r in csv.reader(text.splitlines())]
    ws = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def rows_with_header(path: Path, must: str) -> list[dict]:
    grid = read_grid(path)
    h = next(i for i, r in enumerate(grid) if any(norm(c) == must for c in r))
    header = [ALIASES.get(norm(c), norm(c)) for c in grid[h]]
    out = []
    for i, r in enumerate(grid[h + 1:], start=h + 2):
        cells = {k: v for k, v in zip(header, r) if k}
        values = [v for v in r if v not in (None, "")]
        if not values or norm(values[0]).startswith(("合计", "注")) or re.match(r"^\d、", norm(values[0])):
            continue
        cells["_row"] = i
        out.append(cells)
    return out


def to_date(v):
    """date, or None for blank; raises ValueError when unreadable."""
    if v in (None, ""):
        return None
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    s = norm(v)
    m = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", s)
    if not m:
        raise ValueError(s)
    return date(int(m[1]), int(m[2]), int(m[3]))


def to_yuan(v):
    if v in (None, ""):
        return None
    s = norm(v).removesuffix("万元")
    return int((Decimal(s) * 10000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def snapshot(landing: Path, year: int, month: int) -> tuple[Path, date]:
    cutoff = date(year + (month == 12), month % 12 + 1, 1)
    dated = []
    for p in (landing / "exports").iterdir():
        d = date.fromisoformat(p.stem.rsplit("_", 1)[1])
        if d <= cutoff:
            dated.append((d, p))
    d, p = max(dated)
    return p, d


def month_figures(landing: Path, year: int, month: int) -> dict[str, dict]:
    first = date(year, month, 1)
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    targets = {r[0]: int(r[1]) for r in csv.reader((landing / "targets" / "2020.csv").read_text("utf-8").splitlines()[1:])
               if r[0] != "合计"}
    plan = rows_with_header(landing / "plan" / "2020.xlsx", "小区名称")
    path, taken = snapshot(landing, year, month)
    records = rows_with_header(path, "项目编号")
    ids = [norm(r.get("项目编号")) for r in records]
    keys = [(norm(r.get("市州")), norm(r.get("所在县市区")), norm(r.get("小区名称"))) for r in records]
    plan_keys = {(norm(p["市州"]), norm(p["所在县市区"]), norm(p["小区名称"])) for p in plan}

    def valid(i: int) -> bool:
        r = records[i]
        status = norm(r.get("改造状态"))
        try:
            start, finish = to_date(r.get("开工日期")), to_date(r.get("完工日期"))
            reported = to_date(r.get("填报时间"))
            reviewed = to_date(r.get("审核时间"))
            money = [to_yuan(r.get(k)) for k in MONEY]
        except (ValueError, InvalidOperation):
            return False
        if status not in ("未开工", "已开工", "已完工"):
            return False
        if (start is None) != (status == "未开工") or (finish is None) != (status != "已完工"):
            return False
        if start and finish and finish < start:
            return False
        if any(d and d > taken for d in (start, finish, reported, reviewed)):
            return False
        if any(m is not None and m < 0 for m in money):
            return False
        if not ids[i] or ids.count(ids[i]) > 1 or keys[i][0] not in targets:
            return False
        if keys[i] in plan_keys and keys.count(keys[i]) > 1:
            return False
        return True

    out = {c: {"target": n, "plan": 0, "started": 0, "planned": 0, "done": 0, "timely": 0}
           for c, n in targets.items()}
    by_key = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    for p in plan:
        k = (norm(p["市州"]), norm(p["所在县市区"]), norm(p["小区名称"]))
        city = out[k[0]]
        city["plan"] += 1
        matches = by_key.get(k, [])
        if len(matches) != 1 or not valid(matches[0]):
            continue
        r = records[matches[0]]
        status = norm(r["改造状态"])
        start = to_date(r.get("开工日期"))
        reported = to_date(r.get("填报时间"))
        if status in ("已开工", "已完工") and start <= last:
            city["started"] += 1
        city["planned"] += to_yuan(r.get("计划总投资(万元)")) or 0
        city["done"] += to_yuan(r.get("累计完成投资(万元)")) or 0
        if norm(r.get("审核状态")) == "已审核" and reported and (
                first <= reported <= last or (status == "已完工" and reported < first)):
            city["timely"] += 1
    for c in out.values():
        rates = [Fraction(c["started"], c["target"]) if c["target"] else Fraction(0),
                 Fraction(c["done"], c["planned"]) if c["planned"] else Fraction(0),
                 Fraction(c["timely"], c["plan"]) if c["plan"] else Fraction(0)]
        capped = [min(r, 1) for r in rates]
        exact = 100 * (Fraction(1, 2) * capped[0] + Fraction(3, 10) * capped[1] + Fraction(1, 5) * capped[2])
        cents = int(exact * 100 + Fraction(1, 2))
        c["score"] = f"{cents // 100}.{cents % 100:02d}"
    return out
