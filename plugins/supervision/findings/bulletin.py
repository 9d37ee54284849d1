"""The falsification bulletin (关于……城镇老旧小区改造信息报送弄虚作假情况的通报), rendered in the
GB/T 9704 family of the other documents (``falsification_bulletin.html.j2``, the shared frame of
``_macros.html.j2`` and ``official.css``).

Joint document of the provincial departments to every city's three departments, 抄送 the city
governments. It names each falsified community with its city, what was reported and what was
found, the quality stage's falsification signals of the record (backwards movement), and the
responsible officers' names — never their phone numbers (a circulated document). The cities
rectify and report back by a deadline counted in working days of the official calendar.

Dates come from the findings, never from the clock: the 成文日期 is the first working day after
the last 核查日期; the deadline is ``rectify_workdays`` working days after it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from .. import documents as docs
from ..config import Programme
from ..months import Month, date_zh
from ..workdays import is_workday, next_workday_on_or_after
from . import CONCLUSION_LABELS, FALSIFIED, INVESTMENT_OVERSTATED, STATUS_FALSIFIED

TEMPLATE = "falsification_bulletin.html.j2"
DEFAULT_RECTIFY_WORKDAYS = 10


def config(programme: Programme) -> dict[str, Any]:
    return dict(programme.documents.get("falsification_bulletin") or {})


def issue_date(findings: pd.DataFrame) -> date:
    """The first working day after the last 核查日期 of the findings."""
    last = max(date.fromisoformat(d) for d in findings.checked_on.dropna())
    return next_workday_on_or_after(last + timedelta(days=1))


def add_workdays(day: date, n: int) -> date:
    """The ``n``-th working day after ``day`` (official calendar, 调休 included)."""
    while n > 0:
        day += timedelta(days=1)
        if is_workday(day):
            n -= 1
    return day


def title_lines(cities: list[str]) -> tuple[str, str]:
    who = "、".join(cities) if len(cities) <= 3 else f"{cities[0]}等{len(cities)}个市州"
    return (f"关于{who}城镇老旧小区改造", "信息报送弄虚作假情况的通报")


def _wan(yuan: Any) -> str:
    return "—" if yuan is None or pd.isna(yuan) else docs.wan(yuan)


@dataclass(frozen=True)
class FalsifiedCommunity:
    seq: int
    city: str
    county: str
    name: str
    project_id: str
    conclusion: str
    problems: tuple[str, ...]
    reported: str
    found: str
    impl_officer: str
    sup_officer: str
    signals: str


def falsified_communities(findings: pd.DataFrame) -> list[FalsifiedCommunity]:
    out = []
    rows = findings[findings.conclusion.isin(FALSIFIED)].sort_values(["city_order", "draw"])
    for r in rows.to_dict("records"):
        problems = []
        if r["conclusion"] == STATUS_FALSIFIED:
            problems.append(CONCLUSION_LABELS[STATUS_FALSIFIED])
        if r["conclusion"] == INVESTMENT_OVERSTATED or r["investment_overstated"]:
            problems.append(CONCLUSION_LABELS[INVESTMENT_OVERSTATED])
        out.append(FalsifiedCommunity(
            seq=len(out) + 1, city=r["city"], county=docs._text(r["county"]),
            name=docs._text(r["name"]), project_id=r["project_id"], conclusion=r["conclusion"],
            problems=tuple(problems),
            reported=f"改造状态“{docs._text(r['reported_status'])}”、累计完成投资{_wan(r['reported_invest_yuan'])}万元",
            found=f"改造状态“{docs._text(r['verified_status'])}”、累计完成投资{_wan(r['verified_invest_yuan'])}万元",
            impl_officer=docs._text(r["impl_officer"]) or "（未填报）",
            sup_officer=docs._text(r["sup_officer"]) or "（未填报）",
            signals=docs._text(r["signals"])))
    return out


def falsified_cities(findings: pd.DataFrame) -> list[str]:
    rows = findings[findings.conclusion.isin(FALSIFIED)].sort_values("city_order")
    return list(dict.fromkeys(rows.city))


def context(programme: Programme, month: Month, findings: pd.DataFrame) -> dict[str, Any]:
    d = programme.documents
    cfg = config(programme)
    issued = issue_date(findings)
    cities = falsified_cities(findings)
    communities = falsified_communities(findings)
    checked = findings[findings.conclusion != "NOT_CHECKED"]
    doc = docs.DocHeader(
        title_lines=title_lines(cities),
        number=docs.NumberRule.of(cfg.get("number", {"first": 150}),
                                  d.get("doc_number_prefix", "")).number(
            issued.year, month, programme.month_index(month)),
        issuers=docs._issuers(programme, cfg),
        recipients=cfg.get("recipients", d.get("city_recipients", "各市州")),
        issued_on=issued, printed_by=d.get("printed_by", ""),
        cc=tuple(cfg.get("cc", [d.get("city_governments", "各市州人民政府")])))
    deadline = add_workdays(issued, int(cfg.get("rectify_workdays", DEFAULT_RECTIFY_WORKDAYS)))
    return {
        "doc": doc, "month_zh": month.label_zh(), "basis": docs._basis(programme),
        "system_name": docs._system(programme), "sampled": len(findings),
        "sampled_cities": findings.city.nunique(), "checked": len(checked),
        "falsified": len(communities), "cities": cities,
        "status_count": sum(1 for c in communities if c.conclusion == STATUS_FALSIFIED),
        "invest_count": sum(1 for c in communities if c.conclusion == INVESTMENT_OVERSTATED),
        "both_count": sum(1 for c in communities
                          if c.conclusion == STATUS_FALSIFIED and len(c.problems) > 1),
        "communities": communities, "deadline_zh": date_zh(deadline),
        "rectify_workdays": int(cfg.get("rectify_workdays", DEFAULT_RECTIFY_WORKDAYS)),
        "report_to": d.get("issuer", ""), "issued_zh": date_zh(issued),
    }


def render(programme: Programme, month: Month, findings: pd.DataFrame) -> str:
    return docs.render(TEMPLATE, **context(programme, month, findings))
