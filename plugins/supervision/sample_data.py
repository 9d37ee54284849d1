"""A seeded, deterministic landing area for Hunan's 2020 programme (SPEC §7 layout).

    python -m supervision.sample_data <folder> [--seed 2020] [--communities 1000]

Writes the targets of 附件1 (exactly as in the notice for 1,000 communities, scaled otherwise),
a plan registry in the 附件2 layout (title, stamp and 注 lines, person+phone cells), monthly
exports of the management system from May 2020 to January 2021 (title rows, 合计 rows, mixed
date spellings, header variants, GBK csv for some months) in which cities progress at different
paces, and recipients.csv. A few percent of records carry the problems real exports have; which
ones is recorded in ``_generator/truth.json`` for tests (the pipeline never reads that folder).
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from .months import Month, months_between
from .outputs import normalize_zip

# 附件1, in the notice's own (non-administrative) order
TARGETS_2020 = [("长沙市", 59), ("株洲市", 94), ("湘潭市", 54), ("衡阳市", 89), ("郴州市", 52),
                ("岳阳市", 64), ("娄底市", 42), ("邵阳市", 136), ("常德市", 121), ("益阳市", 31),
                ("张家界市", 47), ("湘西自治州", 59), ("怀化市", 42), ("永州市", 110)]

COUNTIES = {
    "长沙市": ["芙蓉区", "天心区", "岳麓区", "开福区", "雨花区", "望城区", "长沙县", "浏阳市", "宁乡市"],
    "株洲市": ["荷塘区", "芦淞区", "石峰区", "天元区", "渌口区", "醴陵市", "攸县", "茶陵县", "炎陵县"],
    "湘潭市": ["雨湖区", "岳塘区", "湘潭县", "湘乡市", "韶山市"],
    "衡阳市": ["珠晖区", "雁峰区", "石鼓区", "蒸湘区", "南岳区", "衡阳县", "衡南县", "衡山县", "衡东县",
              "祁东县", "耒阳市", "常宁市"],
    "邵阳市": ["双清区", "大祥区", "北塔区", "新邵县", "邵阳县", "隆回县", "洞口县", "绥宁县", "新宁县",
              "城步苗族自治县", "武冈市", "邵东市"],
    "岳阳市": ["岳阳楼区", "云溪区", "君山区", "岳阳县", "华容县", "湘阴县", "平江县", "汨罗市", "临湘市"],
    "常德市": ["武陵区", "鼎城区", "安乡县", "汉寿县", "澧县", "临澧县", "桃源县", "石门县", "津市市"],
    "张家界市": ["永定区", "武陵源区", "慈利县", "桑植县"],
    "益阳市": ["资阳区", "赫山区", "南县", "桃江县", "安化县", "沅江市"],
    "郴州市": ["北湖区", "苏仙区", "桂阳县", "宜章县", "永兴县", "嘉禾县", "临武县", "汝城县", "桂东县",
              "安仁县", "资兴市"],
    "永州市": ["零陵区", "冷水滩区", "祁阳县", "东安县", "双牌县", "道县", "江永县", "宁远县", "蓝山县",
              "新田县", "江华瑶族自治县"],
    "怀化市": ["鹤城区", "中方县", "沅陵县", "辰溪县", "溆浦县", "会同县", "麻阳苗族自治县", "新晃侗族自治县",
              "芷江侗族自治县", "靖州苗族侗族自治县", "通道侗族自治县", "洪江市"],
    "娄底市": ["娄星区", "双峰县", "新化县", "冷水江市", "涟源市"],
    "湘西自治州": ["吉首市", "泸溪县", "凤凰县", "花垣县", "保靖县", "古丈县", "永顺县", "龙山县"],
}
CITY_CODES = {"长沙市": "changsha", "株洲市": "zhuzhou", "湘潭市": "xiangtan", "衡阳市": "hengyang",
              "邵阳市": "shaoyang", "岳阳市": "yueyang", "常德市": "changde", "张家界市": "zhangjiajie",
              "益阳市": "yiyang", "郴州市": "chenzhou", "永州市": "yongzhou", "怀化市": "huaihua",
              "娄底市": "loudi", "湘西自治州": "xiangxi"}
# pace of starting (1 = on the expected path) and reporting discipline, per city
PACE = {"长沙市": 1.35, "株洲市": 1.15, "湘潭市": 1.25, "衡阳市": 0.95, "邵阳市": 0.8, "岳阳市": 1.1,
        "常德市": 1.05, "张家界市": 0.85, "益阳市": 1.3, "郴州市": 1.0, "永州市": 0.9, "怀化市": 1.2,
        "娄底市": 1.1, "湘西自治州": 0.75}
DISCIPLINE = {"长沙市": 0.99, "株洲市": 0.97, "湘潭市": 1.0, "衡阳市": 0.9, "邵阳市": 0.85,
              "岳阳市": 0.95, "常德市": 0.93, "张家界市": 0.88, "益阳市": 1.0, "郴州市": 0.92,
              "永州市": 0.9, "怀化市": 0.96, "娄底市": 0.97, "湘西自治州": 0.82}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢傅钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝龚邵万覃武钱严易"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文辉玲斌波宇浩凯鹏俊峰琳晨阳雪梅林兰新春海燕亮"
ROADS = ["人民路", "解放路", "建设路", "五一路", "中山路", "韶山路", "新华路", "劳动路", "车站路", "东风路",
         "建湘路", "八一路", "迎宾路", "朝阳路", "红旗路", "团结路", "胜利路", "光明路", "和平路", "文化路",
         "工农路", "育才路", "湘江路", "滨江路", "桂花路", "芙蓉路", "书院路", "雨花路", "府前路", "西湖路"]
UNITS = ["粮食局", "供销社", "纺织厂", "机械厂", "水泥厂", "电业局", "邮电局", "自来水公司", "化肥厂", "棉纺厂",
         "运输公司", "建工局", "税务局", "人民医院", "第一中学", "农机厂", "食品公司", "百货公司", "印刷厂",
         "物资局", "烟草公司", "银行", "交通局", "糖酒公司", "木材公司", "钢铁厂", "汽车站", "电机厂", "卷烟厂",
         "气象局", "教育局", "公安局", "法院", "检察院", "林业局", "水利局", "卫生局", "财政局", "商业局"]
SUFFIXES = ["宿舍", "家属区", "生活区", "小区", "宿舍区", "家属院"]
ESTATES = ["新村", "小区", "花园", "公寓", "苑", "大院"]
BASIC = ["供水管网改造", "排水管网改造", "供电线路改造", "燃气管道改造", "道路硬化", "屋面防水", "外墙维修",
         "消防设施改造", "安防监控", "光纤入户"]
IMPROVE = ["拆除违建", "绿化提质", "照明改造", "停车位建设", "加装电梯", "充电设施建设", "垃圾分类设施",
           "建筑节能改造", "无障碍设施"]
UPGRADE = ["社区养老服务设施", "托育设施", "文体活动场地", "便民市场", "智慧社区建设", "社区食堂"]
OWNERSHIP = ["房改房", "单位自管房", "直管公房", "商品房", "混合产权"]

MONTHS = months_between(Month(2020, 5), Month(2021, 1))
YEAR_START = date(2020, 5, 1)
# snapshots besides the one on the 1st of each next month: a mid-month export and a late
# re-export (point-in-time selection must ignore them for the month they could contaminate)
EXTRA_SNAPSHOTS = [date(2020, 6, 15), date(2020, 7, 3)]
CSV_SNAPSHOTS = {date(2020, 9, 1): "gbk", date(2020, 12, 1): "utf-8-sig"}

EXPORT_HEADERS = ["序号", "项目编号", "市州", "所在县市区", "所在街道及社区", "小区地址", "小区名称",
                  "涉及户数(户)", "小区内楼栋数(栋)", "总建筑面积(万平方米)", "建成时间", "房屋性质",
                  "计划改造内容", "改造状态", "开工日期", "完工日期", "计划总投资(万元)", "累计完成投资(万元)",
                  "中央补助资金(万元)", "中央预算内资金(万元)", "省级补助资金(万元)", "市县配套资金(万元)",
                  "社会及居民出资(万元)", "基础类改造内容", "完善类改造内容", "提升类改造内容", "加装电梯(部)",
                  "实施责任人", "实施责任人电话", "监管责任人", "监管责任人电话", "填报时间", "审核状态", "审核时间"]
# header variants some exports use (the alias table must recognise them)
HEADER_VARIANTS = {"涉及户数(户)": "户数", "计划总投资(万元)": "计划总投资（万元）",
                   "累计完成投资(万元)": "累计完成投资（万元）", "小区内楼栋数(栋)": "楼栋数"}


@dataclass
class Community:
    seq: int
    project_id: str
    city: str
    county: str
    street: str
    address: str
    name: str
    households: int
    buildings: int
    area: float                # 万平方米, 4 decimals
    built_year: int
    ownership: str
    basic: list[str]
    improve: list[str]
    upgrade: list[str]
    elevators: int
    impl: tuple[str, str]
    sup: tuple[str, str]
    planned_wan: float         # 计划总投资, 万元, 2 decimals
    funding: list[float]       # five sources, 万元
    start: date | None
    duration_days: int
    # what goes wrong with this community's records, and from which month
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def planned_content(self) -> str:
        return "、".join(self.basic + self.improve + self.upgrade)

    def finish(self) -> date | None:
        return self.start + timedelta(days=self.duration_days) if self.start else None

    def done_fraction(self, asof: date) -> float:
        if not self.start or asof < self.start:
            return 0.0
        # an advance payment at the start, then roughly linear progress to completion
        return min(1.0, 0.15 + 0.85 * ((asof - self.start).days + 1) / self.duration_days)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _landline(rng: random.Random, city: str) -> str:
    code = {"长沙市": "0731", "株洲市": "0731", "湘潭市": "0731", "衡阳市": "0734", "邵阳市": "0739",
            "岳阳市": "0730", "常德市": "0736", "张家界市": "0744", "益阳市": "0737", "郴州市": "0735",
            "永州市": "0746", "怀化市": "0745", "娄底市": "0738", "湘西自治州": "0743"}[city]
    return f"{code}-{rng.randrange(2000000, 8999999)}"


def scaled_targets(communities: int) -> list[tuple[str, int]]:
    """附件1 scaled to ``communities`` (exact for 1,000), largest remainders."""
    if communities == 1000:
        return list(TARGETS_2020)
    raw = [(c, n * communities / 1000) for c, n in TARGETS_2020]
    counts = {c: int(x) for c, x in raw}
    short = communities - sum(counts.values())
    for c, x in sorted(raw, key=lambda cx: cx[1] - int(cx[1]), reverse=True)[:short]:
        counts[c] += 1
    return [(c, counts[c]) for c, _ in TARGETS_2020]


def _community_name(rng: random.Random, used: set[str]) -> str:
    for _ in range(1000):
        kind = rng.random()
        if kind < 0.5:
            name = rng.choice(UNITS) + rng.choice(SUFFIXES)
        elif kind < 0.8:
            name = rng.choice(ROADS).removesuffix("路") + rng.choice(ESTATES)
        else:
            name = rng.choice(ROADS) + f"{rng.randrange(1, 300)}号院"
        if name in used:
            name = f"{name.removesuffix('区')}{rng.choice('一二三四五六七八九')}区" if name.endswith("区") \
                else f"{rng.choice(ROADS).removesuffix('路')}{name}"
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("could not make a unique community name")  # pragma: no cover


def make_communities(rng: random.Random, targets: list[tuple[str, int]]) -> list[Community]:
    out: list[Community] = []
    seq = 0
    for city, count in targets:
        counties = COUNTIES[city]
        weights = [3 if c.endswith("区") else 1 for c in counties]
        used: dict[str, set[str]] = {c: set() for c in counties}
        for _ in range(count):
            seq += 1
            county = rng.choices(counties, weights)[0]
            street = f"{rng.choice(ROADS).removesuffix('路')}街道{rng.choice(ROADS).removesuffix('路')}社区"
            name = _community_name(rng, used[county])
            households = max(24, min(1600, int(rng.lognormvariate(math.log(180), 0.6))))
            buildings = max(1, round(households / rng.uniform(18, 60)))
            area = round(households * rng.uniform(55, 110) / 10000, 4)
            built = rng.choice(range(1978, 2001)) if rng.random() > 0.02 else rng.choice((2002, 2004, 2006))
            basic = rng.sample(BASIC, rng.randint(2, 5))
            improve = rng.sample(IMPROVE, rng.randint(0, 3))
            upgrade = rng.sample(UPGRADE, rng.randint(0, 1)) if rng.random() < 0.35 else []
            elevators = rng.randint(1, 4) if "加装电梯" in improve else 0
            planned = round(households * rng.uniform(0.5, 1.5) + elevators * 45, 2)
            shares = [rng.uniform(0.25, 0.45), rng.uniform(0, 0.15), rng.uniform(0.05, 0.12),
                      rng.uniform(0.15, 0.35), rng.uniform(0, 0.08)]
            total = sum(shares)
            funding = [round(planned * s / total, 2) for s in shares[:4]]
            funding.append(round(planned - sum(funding), 2))
            pace = PACE[city]
            if rng.random() < 0.004:
                start = None  # never starts within the window
            else:
                offset = 165 * (rng.random() ** 1.2) / pace + rng.uniform(-7, 7)
                start = YEAR_START + timedelta(days=max(0, int(offset)))
            out.append(Community(
                seq=seq, project_id=f"HN2020{seq:05d}", city=city, county=county, street=street,
                address=f"{county}{rng.choice(ROADS)}{rng.randrange(1, 400)}号", name=name,
                households=households, buildings=buildings, area=area, built_year=built,
                ownership=rng.choice(OWNERSHIP), basic=basic, improve=improve, upgrade=upgrade,
                elevators=elevators,
                impl=(_person(rng), _mobile(rng)),
                sup=(_person(rng), _mobile(rng) if rng.random() < 0.7 else _landline(rng, city)),
                planned_wan=planned, funding=funding, start=start,
                duration_days=rng.randint(120, 330)))
    _assign_problems(rng, out)
    return out


# persistent problems: (kind, share of communities)
PROBLEMS = [
    ("households_mismatch", 0.012),   # PLAN_MISMATCH (warning, NOT an invalid record)
    ("bad_phone", 0.01),              # PHONE_INVALID
    ("funding_off", 0.01),            # FUNDING_SUM_MISMATCH
    ("renamed", 0.004),               # NOT_IN_PLAN + MISSING_FROM_EXPORT
    ("missing", 0.004),               # not in the export at all
    ("never_reviews", 0.01),          # NOT_REVIEWED every month
]
# per-month glitches (blocking unless noted), share of records per snapshot
GLITCHES = [
    ("status_typo", 0.004), ("start_missing", 0.003), ("bad_date", 0.003), ("negative_money", 0.002),
    ("dup_id", 0.002), ("over_invest", 0.003), ("money_as_text", 0.02), ("fullwidth", 0.01),
    ("backwards", 0.003),
]


def _assign_problems(rng: random.Random, communities: list[Community]) -> None:
    for kind, share in PROBLEMS:
        for c in rng.sample(communities, max(1, round(share * len(communities)))):
            c.problems.setdefault(kind, "all")


def _fmt_date(rng: random.Random, d: date | None, style_seed: float):
    if d is None:
        return None
    if style_seed < 0.70:
        return d.isoformat()
    if style_seed < 0.80:
        return f"{d.year}/{d.month}/{d.day}"
    if style_seed < 0.86:
        return f"{d.year}.{d.month}.{d.day}"
    if style_seed < 0.92:
        return f"{d.year}年{d.month}月{d.day}日"
    return d  # a real date cell (xlsx) / ISO text (csv)


def _record(rng: random.Random, c: Community, month: Month, taken: date,
            history: dict[str, dict]) -> dict | None:
    """The community's record in the export taken on ``taken`` (data through ``month``)."""
    if "missing" in c.problems:
        return None
    asof = min(month.last_day, taken)
    state = history.setdefault(c.project_id, {"reported": None, "review": "待审核", "reviewed": None})
    discipline = DISCIPLINE[c.city]
    started = c.start is not None and c.start <= asof
    finish = c.finish()
    finished = finish is not None and finish <= asof
    was_final = state.get("final", False)
    if was_final and rng.random() < 0.7:
        reports = False          # an earlier, reviewed final report: no need to update
    else:
        reports = rng.random() < discipline or (started and c.start >= month.first_day)
    if month == Month(2020, 5) and not started and rng.random() < 0.5:
        reports = rng.random() < discipline
    if reports:
        first = c.start.day if started and c.start >= month.first_day else 1
        day = rng.randint(min(first, asof.day), asof.day)
        state["reported"] = datetime(month.year, month.month, day, rng.randint(8, 20),
                                     rng.randint(0, 59), rng.randint(0, 59))
        state["asof"] = asof
        if "never_reviews" in c.problems or rng.random() > 0.5 + 0.5 * discipline:
            state["review"] = "已退回" if rng.random() < 0.2 else "待审核"
            state["reviewed"] = state["reported"] + timedelta(days=1) if state["review"] == "已退回" else None
        else:
            state["review"] = "已审核"
            reviewed = state["reported"] + timedelta(hours=rng.randint(2, 72))
            state["reviewed"] = min(reviewed, datetime(taken.year, taken.month, taken.day) - timedelta(minutes=5))
        state["final"] = finished and state["review"] == "已审核"
    if state["reported"] is None:
        # never reported yet: the record exists with the plan's facts only
        state["reported"] = datetime(2020, 4, rng.randint(20, 29), 10, 0, 0)
        state["asof"] = date(2020, 4, 30)
        state["review"] = "已审核" if rng.random() < discipline else "待审核"
        state["reviewed"] = state["reported"] + timedelta(days=1) if state["review"] == "已审核" else None
    seen = state["asof"]
    s_started = c.start is not None and c.start <= seen
    s_finished = finish is not None and finish <= seen
    status = "已完工" if s_finished else ("已开工" if s_started else "未开工")
    done = round(c.planned_wan * c.done_fraction(seen), 2) if s_started else 0.0
    if s_finished:
        done = c.planned_wan
    return {
        "project_id": c.project_id, "city": c.city, "county": c.county, "street": c.street,
        "address": c.address, "name": c.name, "households": c.households,
        "buildings": c.buildings, "area": c.area, "built": str(c.built_year),
        "ownership": c.ownership, "planned_content": c.planned_content, "status": status,
        "start": c.start if s_started else None, "finish": finish if s_finished else None,
        "planned": c.planned_wan, "done": done, "funding": list(c.funding),
        "basic": "、".join(c.basic), "improve": "、".join(c.improve), "upgrade": "、".join(c.upgrade),
        "elevators": c.elevators, "impl": c.impl, "sup": c.sup,
        "reported": state["reported"], "review": state["review"], "reviewed": state["reviewed"],
    }


def _apply_problems(rng: random.Random, c: Community, rec: dict, truth: dict, taken: date,
                    prev_done: dict[str, float]) -> None:
    pid = c.project_id
    if "households_mismatch" in c.problems:
        rec["households"] = c.households + rng.choice((-12, -6, 5, 10, 20))
        truth["plan_mismatch"].append(pid)
    if "bad_phone" in c.problems:
        rec["impl"] = (c.impl[0], c.impl[1][:-2])
        truth["bad_phone"].append(pid)
    if "funding_off" in c.problems:
        rec["funding"][0] = round(rec["funding"][0] * 0.7, 2)
        truth["funding_off"].append(pid)
    if "renamed" in c.problems:
        rec["name"] = rec["name"] + "（一期）"
        truth["renamed"].append(pid)
    for kind, share in GLITCHES:
        if rng.random() >= share:
            continue
        if kind == "status_typo":
            rec["status"] = rng.choice(["在建", "开工中", "已开", "完工"])
        elif kind == "start_missing" and rec["status"] in ("已开工", "已完工"):
            rec["start"] = None
        elif kind == "bad_date" and rec["start"]:
            rec["start"] = f"{rec['start'].year}-{rec['start'].month:02d}-3{rng.randint(2, 9)}"
        elif kind == "negative_money" and rec["done"] > 0:
            rec["done"] = -rec["done"]
        elif kind == "dup_id":
            rec["project_id"] = f"HN2020{max(1, c.seq - 1):05d}"
        elif kind == "over_invest":
            rec["done"] = round(rec["planned"] * 1.15, 2)
        elif kind == "money_as_text":
            rec["planned"] = f"{rec['planned']:.2f}万元"
        elif kind == "fullwidth":
            rec["households"] = str(rec["households"]).translate(
                str.maketrans("0123456789", "０１２３４５６７８９"))
        elif kind == "backwards" and prev_done.get(pid, 0) > 1:
            rec["done"] = round(prev_done[pid] * 0.8, 2)
        else:
            continue
        truth["glitches"].append([pid, kind])


def _export_rows(rng: random.Random, records: list[dict], xlsx: bool) -> list[list]:
    rows = []
    for i, rec in enumerate(records, start=1):
        style = rng.random()
        def d(v):
            if isinstance(v, str) or v is None:
                return v
            value = _fmt_date(rng, v, style)
            return value.isoformat() if (isinstance(value, date) and not xlsx) else value
        reported = rec["reported"]
        rows.append([
            i, rec["project_id"], rec["city"], rec["county"], rec["street"], rec["address"],
            rec["name"], rec["households"], rec["buildings"], rec["area"], rec["built"],
            rec["ownership"], rec["planned_content"], rec["status"], d(rec["start"]),
            d(rec["finish"]), rec["planned"], rec["done"], *rec["funding"], rec["basic"],
            rec["improve"], rec["upgrade"], rec["elevators"], rec["impl"][0], rec["impl"][1],
            rec["sup"][0], rec["sup"][1],
            reported.strftime("%Y-%m-%d %H:%M:%S") if reported else None, rec["review"],
            rec["reviewed"].strftime("%Y-%m-%d %H:%M:%S") if rec["reviewed"] else None,
        ])
    return rows


def _headers(rng: random.Random, variant: bool) -> list[str]:
    if not variant:
        return list(EXPORT_HEADERS)
    return [HEADER_VARIANTS.get(h, h) for h in EXPORT_HEADERS]


def _write_xlsx(path: Path, title_rows: list[list], header: list[str], rows: list[list],
                footer_rows: list[list], sheet: str = "Sheet1") -> None:
    """An xlsx as a management system writes it: merged title rows, the header, the data (dates
    as real date cells), the footer. XlsxWriter in constant-memory mode: linear in rows, so the
    national-scale benchmarks can generate 300,000-row exports."""
    import xlsxwriter  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": datetime(2020, 1, 1), "author": "", "comments": ""})
    ws = wb.add_worksheet(sheet)
    date_format = wb.add_format({"num_format": "yyyy-mm-dd"})
    r = 0
    for row in title_rows:
        if len(row) == 1:
            ws.merge_range(r, 0, r, len(header) - 1, row[0])
        else:
            ws.write_row(r, 0, row)
        r += 1
    ws.write_row(r, 0, header)
    r += 1
    for row in [*rows, *footer_rows]:
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, date):
                ws.write_datetime(r, c, datetime(value.year, value.month, value.day), date_format)
            else:
                ws.write(r, c, value)
        r += 1
    wb.close()
    normalize_zip(path)


def _write_csv(path: Path, title_rows: list[list], header: list[str], rows: list[list],
               footer_rows: list[list], encoding: str) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for row in title_rows + [header] + rows + footer_rows:
        w.writerow(["" if v is None else v for v in row])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))


def write_targets(folder: Path, targets: list[tuple[str, int]]) -> None:
    lines = ["市州,任务数"] + [f"{c},{n}" for c, n in targets] + [f"合计,{sum(n for _, n in targets)}"]
    path = folder / "targets" / "2020.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_plan(folder: Path, communities: list[Community]) -> None:
    header = ["序号", "市州", "所在县市区", "所在街道及社区", "小区地址", "小区名称", "涉及户数(户)",
              "小区内楼栋数(栋)", "总建筑面积(万平方米)", "建成时间", "房屋性质", "计划改造内容",
              "项目实施单位责任人及联系电话", "项目监管单位责任人及联系电话"]
    title = [["附件2"], ["纳入2020年全省为民办实事城镇老旧小区改造计划项目汇总表"],
             ["(住建部门盖章)", None, None, None, "(发改部门盖章)", None, None, None, "(财政部门盖章)"],
             ["制表联系人及电话:  万勇 0731-88950212"]]
    rows = [[c.seq, c.city, c.county, c.street, c.address, c.name, c.households, c.buildings,
             c.area, f"{c.built_year}年", c.ownership, c.planned_content,
             f"{c.impl[0]} {c.impl[1]}", f"{c.sup[0]} {c.sup[1]}"] for c in communities]
    notes = [[], ["注：1、小区名称、户数、楼栋数、面积、建成时间、房屋性质、计划改造内容等应与各地申报2020年计划数时上报的内容保持一致；"],
             ["2、项目实施单位责任人一般指负责小区改造的实施单位（建设单位）项目负责人，项目监管单位责任人是县市区住建局（人居环境局）负责该小区改造工作监管的责任人。"]]
    _write_xlsx(folder / "plan" / "2020.xlsx", title, header, rows, notes, sheet="附件2")


def write_recipients(folder: Path, cities: list[str]) -> None:
    lines = ["市州,单位,类别,邮箱"]
    for city in cities:
        code = CITY_CODES[city]
        short = city.removesuffix("市").removesuffix("自治州")
        for org, key, role in (("住房和城乡建设局", "zjj", "主送"), ("发展和改革委员会", "fgw", "主送"),
                               ("财政局", "czj", "主送"), ("人民政府", "zf", "抄送")):
            lines.append(f"{city},{short if city == '湘西自治州' else city}{org},{role},{key}@{code}.example.gov.cn")
    path = folder / "recipients.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def snapshot_dates() -> list[tuple[date, Month]]:
    """Every export: the 1st of each month after a data month, plus the extra ones."""
    dates = [(m.next().first_day, m) for m in MONTHS]
    for d in EXTRA_SNAPSHOTS:
        dates.append((d, Month.of(d)))
    return sorted(dates)


def generate(folder: Path, seed: int = 2020, communities: int = 1000,
             last_month: Month | None = None, export_format: str | None = None) -> dict:
    """Write the landing area into ``folder``; return the generator's truth (what it injected).

    ``last_month`` stops after the snapshots that data month needs (benchmarks);
    ``export_format`` ("xlsx" or "csv") writes every export in one format instead of the
    sample's mix (xlsx, with GBK and UTF-8 csv for two months)."""
    folder = Path(folder)
    rng = random.Random(seed)
    targets = scaled_targets(communities)
    pool = make_communities(rng, targets)
    write_targets(folder, targets)
    write_plan(folder, pool)
    write_recipients(folder, [c for c, _ in TARGETS_2020])
    truth: dict = {"seed": seed, "communities": len(pool), "snapshots": {}}
    history: dict[str, dict] = {}
    prev_done: dict[str, float] = {}
    for taken, month in snapshot_dates():
        if last_month is not None and month > last_month:
            continue
        mrng = random.Random(f"{seed}:{taken.isoformat()}")
        t = {"plan_mismatch": [], "bad_phone": [], "funding_off": [], "renamed": [], "glitches": [],
             "missing": [c.project_id for c in pool if "missing" in c.problems]}
        # an extra (mid-month or late) export must not change what later month-end exports hold
        hist = history if taken.day == 1 else copy.deepcopy(history)
        records = []
        for c in pool:
            rec = _record(mrng, c, month, taken, hist)
            if rec is None:
                continue
            _apply_problems(mrng, c, rec, t, taken, prev_done)
            records.append(rec)
        if taken.day == 1:
            for rec in records:
                if isinstance(rec["done"], (int, float)) and rec["done"] >= 0:
                    prev_done[rec["project_id"]] = rec["done"]
        encoding = {"xlsx": None, "csv": "utf-8-sig"}.get(export_format, CSV_SNAPSHOTS.get(taken))
        variant = taken.month in (8, 11)
        header = _headers(mrng, variant)
        rows = _export_rows(mrng, records, xlsx=encoding is None)
        title = [["湖南智慧住建平台-城镇老旧小区改造管理系统 项目信息导出"],
                 [f"导出时间：{taken.isoformat()} 07:30:00"]]
        # the system's 合计 adds every record's 计划总投资, those written as text too
        planned_total = sum(float(str(r["planned"]).removesuffix("万元")) for r in records)
        footer = [[], ["合计", None, None, None, None, None, f"{len(records)}个小区", None, None, None,
                       None, None, None, None, None, None, round(planned_total, 2)]]
        name = f"湖南省老旧小区改造项目导出_{taken.isoformat()}"
        if encoding:
            _write_csv(folder / "exports" / f"{name}.csv", title, header, rows, footer, encoding)
        else:
            _write_xlsx(folder / "exports" / f"{name}.xlsx", title, header, rows, footer)
        truth["snapshots"][taken.isoformat()] = t
    gen = folder / "_generator"
    gen.mkdir(parents=True, exist_ok=True)
    (gen / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), "utf-8")
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--communities", type=int, default=1000)
    parser.add_argument("--last-month", type=Month.parse, default=None,
                        help="stop after the snapshots this data month needs (YYYY-MM)")
    parser.add_argument("--format", choices=("xlsx", "csv"), default=None,
                        help="write every export in one format (default: the sample's mix)")
    args = parser.parse_args(argv)
    truth = generate(args.folder, args.seed, args.communities, args.last_month, args.format)
    print(f"wrote {args.folder}: {truth['communities']} communities, "
          f"{len(truth['snapshots'])} snapshots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
