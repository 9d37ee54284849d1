"""Official documents rendered from Jinja2 templates (``include/templates/``) to HTML and PDF.

月度通报 (the monthly ranking bulletin) and 督办通知 (one supervision notice per city that lags
or has overdue communities), in the layout of GB/T 9704-2012. Templates autoescape; officers'
phone numbers appear only in the notice to their own city.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from . import paths
from .config import Programme
from .figures import PROVINCE_ROW, format_score
from .months import Month, date_zh
from .tables import REASON_LABELS, money_wan

log = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def environment(templates: Path | None = None):
    import jinja2  # noqa: PLC0415

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates or paths.templates_dir())),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)


def render(template: str, **context: Any) -> str:
    env = environment()
    css = (paths.templates_dir() / "official.css").read_text(encoding="utf-8")
    return env.get_template(template).render(css=css, **context)


def html_to_pdf(html: str, target: Path) -> Path:
    """HTML → PDF with the fonts embedded (WeasyPrint). No creation date is written, so the
    same HTML gives the same bytes."""
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # fontTools stamps embedded font subsets with the time of saving unless the
    # reproducible-builds variable fixes it; the value itself is never shown
    os.environ.setdefault("SOURCE_DATE_EPOCH", "946684800")
    from weasyprint import HTML  # noqa: PLC0415

    HTML(string=html, base_url=str(paths.templates_dir())).write_pdf(
        str(target), pdf_identifier=b"renovation-supervision", uncompressed_pdf=False)
    return target


def percent(rate: Any) -> str:
    if rate is None or pd.isna(rate):
        return "—"
    return f"{float(rate) * 100:.2f}%"


@dataclass(frozen=True)
class DocHeader:
    title: str
    number: str
    issuers: list[str]
    recipients: str
    signed_by: str
    date_zh: str
    printed_by: str
    cc: list[str]


def _doc_number(prefix: str, year: int, n: int) -> str:
    return f"{prefix}〔{year}〕{n}号"


def _city_row(r: pd.Series, seq: int | None) -> dict[str, Any]:
    return {
        "seq": seq if seq is not None else "",
        "city": r.city,
        "target_count": int(r.target_count),
        "started_count": int(r.started_count),
        "finished_count": int(r.finished_count),
        "start_rate_pct": percent(r.start_rate),
        "planned_invest": f"{float(money_wan(r.planned_invest_yuan)):,.2f}",
        "done_invest": f"{float(money_wan(r.done_invest_yuan)):,.2f}",
        "investment_rate_pct": percent(r.investment_rate),
        "timely_rate_pct": percent(r.timely_rate),
        "score": format_score(int(r.score_cents)),
        "rank": "" if pd.isna(r.score_rank) else int(r.score_rank),
        "lagging": bool(r.lagging),
        "is_total": r.city == PROVINCE_ROW,
    }


def top_and_bottom(figures: pd.DataFrame, n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first and last ``n`` cities by 排名, every city of a tie at the boundary included."""
    cities = figures[figures.city != PROVINCE_ROW]
    ranks = cities.score_rank.astype(int)
    top = cities[ranks <= sorted(ranks)[min(n, len(ranks)) - 1]]
    worst = sorted(ranks, reverse=True)[min(n, len(ranks)) - 1]
    bottom = cities[ranks >= worst]
    order = ["score_rank", "city_order"]
    return top.sort_values(order), bottom.sort_values(order)


def monthly_bulletin(programme: Programme, month: Month, figures: pd.DataFrame,
                     snapshot: dict[str, Any], published: date) -> str:
    d = programme.documents
    number = d.get("monthly_bulletin_base", 1) + programme.month_index(month)
    doc = DocHeader(
        title=f"关于{month.label_zh()}全省城镇老旧小区改造工作进展情况的通报",
        number=_doc_number(d.get("doc_number_prefix", ""), published.year, number),
        issuers=list(d.get("issuers", [d.get("issuer", "")])),
        recipients=d.get("monthly_recipients", "各市州"),
        signed_by="　".join(d.get("issuers", [d.get("issuer", "")])),
        date_zh=date_zh(published),
        printed_by=d.get("printed_by", ""),
        cc=list(d.get("monthly_cc", [])),
    )
    rows = []
    for i, (_, r) in enumerate(figures.iterrows(), start=1):
        rows.append(_city_row(r, None if r.city == PROVINCE_ROW else i))
    province = next(x for x in rows if x["is_total"])
    top, bottom = top_and_bottom(figures)
    return render(
        "monthly_bulletin.html.j2", doc=doc, programme=programme, month_zh=month.label_zh(),
        month_end_zh=date_zh(month.last_day), snapshot_date_zh=date_zh(snapshot["date"]),
        snapshot_name=snapshot["name"], province=province, rows=rows,
        top=[_city_row(r, None) for _, r in top.iterrows()],
        bottom=[_city_row(r, None) for _, r in bottom.iterrows()],
        lagging=[r.city for _, r in figures.iterrows() if r.city != PROVINCE_ROW and r.lagging],
        weights=programme.weights)


def notice_cities(figures: pd.DataFrame, overdue: pd.DataFrame) -> list[str]:
    """Cities that get a 督办通知: lagging, or with any overdue community (N6)."""
    with_items = set(overdue.city)
    return [r.city for _, r in figures.iterrows()
            if r.city != PROVINCE_ROW and (bool(r.lagging) or r.city in with_items)]


def supervision_notice(programme: Programme, month: Month, city: pd.Series,
                       items: pd.DataFrame, snapshot: dict[str, Any], published: date) -> str:
    d = programme.documents
    city_cfg = programme.province.city(city.city)
    number = programme.month_index(month) * len(programme.province.cities) + city_cfg.order
    doc = DocHeader(
        title=f"关于督促加快{city.city}城镇老旧小区改造工作的通知",
        number=_doc_number(d.get("notice_prefix", ""), published.year, number),
        issuers=[d.get("issuer", "")],
        recipients=d.get("notice_recipients", "{city}").format(city=city.city),
        signed_by=d.get("issuer", ""),
        date_zh=date_zh(published),
        printed_by=d.get("printed_by", ""),
        cc=[c.format(city=city.city) for c in d.get("notice_cc", [])],
    )
    s_num, s_den = programme.expected_start.fraction_at(month)
    i_num, i_den = programme.expected_investment.fraction_at(month)
    reason_counts = items.reason.map(REASON_LABELS).value_counts()
    ordered = [(REASON_LABELS[r], int(reason_counts[REASON_LABELS[r]]))
               for r in REASON_LABELS if REASON_LABELS[r] in reason_counts.index]
    row = _city_row(city, None)
    deadline = published + timedelta(days=int(d.get("rectify_days", 15)))
    return render(
        "supervision_notice.html.j2", doc=doc, month_zh=month.label_zh(),
        snapshot_date_zh=date_zh(snapshot["date"]), city=row,
        expected={"start_pct": percent(s_num / s_den), "investment_pct": percent(i_num / i_den)},
        items=[{**it, "reason_label": REASON_LABELS[it["reason"]]}
               for it in items.to_dict("records")],
        communities=items.plan_key.nunique(), reason_counts=ordered,
        deadline_zh=date_zh(deadline))
