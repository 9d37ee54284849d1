"""Official documents rendered from Jinja2 templates (``include/templates/``) to HTML and PDF.

The documents of a month, in the layout of GB/T 9704-2012 (党政机关公文格式):
- 月度通报 (monthly ranking bulletin), joint document of the three provincial departments to
  every city's three departments, 抄送 the city governments;
- 督办通知 (supervision notice), one per city that lags or has overdue communities (N6);
- 年中通报 / 年底通报 (mid-year / year-end task-completion bulletins, N9), by the run of the
  data months configured for them (June and December by default).

Templates autoescape, so text from the data (a community called ``<script>``) stays text.
Officers' phone numbers go only into the notice to their own city; circulated bulletins carry
none. Every figure is formatted from the exact integers of ``city_figures`` (half-up rounding),
so a document shows what ``ranking.csv`` holds. The same month renders to the same bytes.
"""
from __future__ import annotations

import base64
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from . import paths
from . import processes as processes_
from .config import Programme, Province, ranking_indicators
from .figures import PROVINCE_ROW, format_score
from .months import Month, date_zh
from .tables import REASON_LABELS

log = logging.getLogger(__name__)

#: stylesheets inlined into every document, in this order
DOCUMENT_CSS = ("family.css", "official.css")
#: the visual family alone (fonts, colours, tables), for the quality report
FAMILY_CSS = "family.css"

#: 版心 width of GB/T 9704-2012, in mm
TEXT_WIDTH_MM = 156.0
PT_PER_MM = 72 / 25.4

#: fixed values that make PDFs byte-identical: the file identifier and, for fontTools when
#: HarfBuzz is not there to subset fonts, the time stamped into subsets (never shown)
PDF_IDENTIFIER = b"renovation-supervision"
SOURCE_DATE_EPOCH = "946684800"


# --------------------------------------------------------------------------- templates

@lru_cache(maxsize=None)
def environment(templates: Path | None = None):
    import jinja2  # noqa: PLC0415

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates or paths.templates_dir())),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    return env


def stylesheet(*names: str) -> str:
    """The named stylesheets of ``include/templates/``, concatenated, comments dropped (they
    document the CSS files, not the documents)."""
    css = "\n".join((paths.templates_dir() / n).read_text(encoding="utf-8") for n in names)
    return re.sub(r"\n{2,}", "\n", re.sub(r"/\*.*?\*/", "", css, flags=re.S)).strip()


def render(template: str, **context: Any) -> str:
    """Render a template with the document stylesheet (``css``) and the shared visual family
    (``family_css``) available to it."""
    return environment().get_template(template).render(
        css=stylesheet(*DOCUMENT_CSS), family_css=stylesheet(FAMILY_CSS), **context)


# --------------------------------------------------------------------------- PDF

class PdfWriter:
    """HTML → PDF with WeasyPrint, the fonts embedded as subsets. One writer renders all the
    documents of a month (WeasyPrint is imported and its font configuration built once).

    No creation date is written and the file identifier is fixed, so the same HTML gives the
    same bytes. Font subsets are made by HarfBuzz when ``libharfbuzz-subset0`` is installed
    (fast); otherwise WeasyPrint falls back to fontTools (slow for OpenType CJK faces)."""

    def __init__(self) -> None:
        for name in ("weasyprint", "fontTools"):
            logging.getLogger(name).setLevel(logging.ERROR)
        os.environ.setdefault("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        from weasyprint import CSS, HTML  # noqa: PLC0415
        from weasyprint.text.fonts import FontConfiguration  # noqa: PLC0415

        self._html = HTML
        self._fonts = FontConfiguration()
        share_font_files()
        # the stylesheet every document inlines, parsed once for all of them (see write)
        css = stylesheet(*DOCUMENT_CSS)
        self._shared_style = SHARED_STYLE.format(css=css)
        self._shared_css = None if _origin_matters(css) else CSS(
            string=css, base_url=str(paths.templates_dir()), font_config=self._fonts)
        if not harfbuzz_subsetter():
            log.warning("HarfBuzz's subsetter (libharfbuzz-subset0) is not installed: embedding "
                        "the CJK fonts with fontTools takes 15-20 s per PDF instead of 0.3 s "
                        "(make fonts installs it)")

    def write(self, html: str, target: Path) -> Path:
        """The PDF of ``html``. When the HTML inlines the documents' stylesheet (every
        document does, in the ``<style>`` of ``_macros.head``), that block is taken out and the
        stylesheet parsed once by the writer is applied instead: the same declarations in the
        same order, so the same cascade and the same bytes (``_origin_matters``); the HTML
        files people read keep their ``<style>``."""
        sheets = []
        if self._shared_css is not None and self._shared_style in html:
            rest = html.replace(self._shared_style, "", 1)
            if not _OTHER_STYLES.search(rest):
                html, sheets = rest, [self._shared_css]
        document = self._html(string=html, base_url=str(paths.templates_dir()))
        document.write_pdf(str(target), font_config=self._fonts, stylesheets=sheets,
                           pdf_identifier=PDF_IDENTIFIER, uncompressed_pdf=False)
        return target


#: how ``_macros.head`` inlines the documents' stylesheet (``css``)
SHARED_STYLE = "<style>\n{css}\n</style>"
#: another stylesheet of the document (it would cascade after the shared one, as an equal)
_OTHER_STYLES = re.compile(r"<style|<link[^>]*stylesheet", re.I)


def _origin_matters(css: str) -> bool:
    """Whether applying ``css`` as a stylesheet given to WeasyPrint (origin *user*) rather than
    from the document's ``<style>`` (origin *author*) could change anything. The cascade
    orders user below author declarations, which changes nothing while the CSS is the only
    author stylesheet (``write`` checks the document has no other) and has no ``!important`` (the only other author declarations are
    ``style`` attributes, which beat it either way); at-rules that register into the
    document's own state (counter styles, layers) or pull other sheets in are not shared."""
    return bool(re.search(r"!\s*important|@(?:counter-style|layer|import|font-face)", css, re.I))


#: font blobs at least this large are whole font files (a document's subsets are < 1 MB)
SHARED_FONT_MIN_BYTES = 2 << 20
#: whole font files kept by :func:`share_font_files` (a month uses 4 faces)
SHARED_FONT_FILES = 8


def share_font_files() -> None:
    """Make WeasyPrint read each font file's bytes once per process instead of once per face
    and document. Every PDF's ``Font`` copies the whole file of its face out of HarfBuzz
    (``get_hb_object_data``: 19-27 MB for each Noto CJK collection, ≈ 1.2 GB of copying for a
    month's 16 documents) only to replace it with the subset a moment later. The copy of a
    blob is kept by the address and length of its data, with a reference to the blob, so that
    memory stays the file's (no other blob can take its address) and the bytes returned are
    exactly the blob's; smaller blobs (the subsets) and other calls go to WeasyPrint's own."""
    from weasyprint.pdf import fonts as pdf_fonts  # noqa: PLC0415
    from weasyprint.text.ffi import ffi, harfbuzz  # noqa: PLC0415

    original = pdf_fonts.get_hb_object_data
    if getattr(original, "shares_font_files", False):
        return
    files: dict[tuple[int, int], tuple[bytes, Any]] = {}

    def get_hb_object_data(hb_object: Any, ot_color: Any = None, glyph: Any = None) -> Any:
        if ot_color is not None:
            return original(hb_object, ot_color, glyph)
        blob = harfbuzz.hb_face_reference_blob(hb_object)
        length = ffi.new("unsigned int *")
        data = harfbuzz.hb_blob_get_data(blob, length)
        size = int(length[0])
        key = (int(ffi.cast("uintptr_t", data)), size)
        if key in files:
            harfbuzz.hb_blob_destroy(blob)
            return files[key][0]
        content = None if data == ffi.NULL else ffi.unpack(data, size)
        if content is None or size < SHARED_FONT_MIN_BYTES:
            harfbuzz.hb_blob_destroy(blob)     # after the copy: a subset's blob is its memory
            return content
        if len(files) >= SHARED_FONT_FILES:
            harfbuzz.hb_blob_destroy(files.pop(next(iter(files)))[1])
        files[key] = (content, blob)       # the blob stays referenced while its copy is kept
        return content

    get_hb_object_data.shares_font_files = True  # type: ignore[attr-defined]
    pdf_fonts.get_hb_object_data = get_hb_object_data


def harfbuzz_subsetter() -> bool:
    """Whether WeasyPrint subsets fonts with HarfBuzz (fast) rather than fontTools."""
    from weasyprint.text.ffi import harfbuzz, harfbuzz_subset  # noqa: PLC0415

    return harfbuzz_subset is not None and bool(harfbuzz.hb_version_atleast(4, 1, 0))


def html_to_pdf(html: str, target: Path) -> Path:
    """One document to PDF (a month's run uses one :class:`PdfWriter` for all)."""
    return PdfWriter().write(html, target)


# --------------------------------------------------------------------------- numbers

_CENT = Decimal("0.01")


def _half_up(value: Fraction | Decimal) -> Decimal:
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def exact_rate(numerator: Any, denominator: Any) -> Fraction | None:
    if denominator is None or pd.isna(denominator) or int(denominator) == 0:
        return None
    return Fraction(int(numerator), int(denominator))


def percent(rate: Fraction | float | None) -> str:
    """A rate as a percentage with 2 decimals, rounded half-up (— when empty). Floats are
    taken by their shortest decimal form (as ``ranking.csv`` writes them)."""
    if rate is None or (isinstance(rate, float) and pd.isna(rate)):
        return "—"
    value = rate * 100 if isinstance(rate, Fraction) else Decimal(repr(float(rate))) * 100
    return f"{_half_up(value)}%"


def wan(yuan: Any) -> str:
    """元 → 万元 with 2 decimals, exact, rounded half-up."""
    if yuan is None or pd.isna(yuan):
        return "—"
    return str(_half_up(Decimal(int(yuan)) / Decimal(10000)))


def points(change: Any) -> str:
    """A 较上月 change in percentage points: +1.23 / -0.50 / 0.00; — when there is no last month."""
    if change is None or pd.isna(change):
        return "—"
    value = _half_up(Decimal(repr(float(change))))
    return f"+{value}" if value > 0 else f"{value}" if value < 0 else "0.00"


def rank_move(change: Any) -> str:
    """Change of rank against last month (positive = moved up): ↑2, ↓1, —(unchanged), empty."""
    if change is None or pd.isna(change):
        return ""
    change = int(change)
    return f"↑{change}" if change > 0 else f"↓{-change}" if change < 0 else "—"


def month_end_zh(day: date) -> str:
    """``10月底`` for the last day of a month, else the full date."""
    return f"{day.month}月底" if (day + timedelta(days=1)).day == 1 else date_zh(day)


# --------------------------------------------------------------------------- one city's line

@dataclass(frozen=True)
class CityLine:
    """The figures of one city (or 全省) as documents show them, and the exact rates behind."""
    seq: int | str
    city: str
    is_total: bool
    target_count: int
    started_count: int
    finished_count: int
    start: Fraction | None
    investment: Fraction | None
    timely: Fraction | None
    finish: Fraction | None
    planned_invest: str
    done_invest: str
    score: str
    rank: int | str
    rank_move: str
    start_change: str
    investment_change: str
    timely_change: str
    lagging: bool
    not_started: int
    short: str = ""              # the name documents print (湘西州), when it differs from city

    @property
    def name(self) -> str:
        """The city as documents name it (its configured short name, else ``city``)."""
        return self.short or self.city

    def pct(self, rate: str) -> str:
        """One of the three rates by its key (start_rate, investment_rate, timely_rate)."""
        return percent(getattr(self, RATE_FIELDS[rate]))

    @property
    def start_pct(self) -> str:
        return percent(self.start)

    @property
    def investment_pct(self) -> str:
        return percent(self.investment)

    @property
    def timely_pct(self) -> str:
        return percent(self.timely)

    @property
    def finish_pct(self) -> str:
        return percent(self.finish)


#: the CityLine field of each weighted rate, and how documents name the rate
RATE_FIELDS = {"start_rate": "start", "investment_rate": "investment", "timely_rate": "timely"}
RATE_NAMES = {"start_rate": "开工率", "investment_rate": "投资完成率", "timely_rate": "信息报送及时率"}


def city_line(r: pd.Series, seq: int | str = "", province: Province | None = None) -> CityLine:
    short = province.display_name(r.city) if province is not None else ""
    return CityLine(
        short="" if short == r.city else short,
        seq=seq, city=r.city, is_total=r.city == PROVINCE_ROW,
        target_count=int(r.target_count), started_count=int(r.started_count),
        finished_count=int(r.finished_count),
        start=exact_rate(r.started_count, r.target_count),
        investment=exact_rate(r.done_invest_yuan, r.planned_invest_yuan),
        timely=exact_rate(r.timely_count, r.plan_count),
        finish=exact_rate(r.finished_count, r.target_count),
        planned_invest=wan(r.planned_invest_yuan), done_invest=wan(r.done_invest_yuan),
        score=format_score(int(r.score_cents)),
        rank="" if pd.isna(r.score_rank) else int(r.score_rank),
        rank_move=rank_move(r.rank_change),
        start_change=points(r.start_rate_change),
        investment_change=points(r.investment_rate_change),
        timely_change=points(r.timely_rate_change),
        lagging=bool(r.lagging),
        not_started=max(int(r.target_count) - int(r.started_count), 0),
    )


def city_lines(figures: pd.DataFrame, province: Province | None = None) -> list[CityLine]:
    """Every city in administrative order (序号 1…n), then 全省; with ``province``, each line
    carries the city's short name for the documents."""
    ordered = figures.sort_values("city_order")
    lines, seq = [], 0
    for _, r in ordered.iterrows():
        if r.city == PROVINCE_ROW:
            lines.append(city_line(r, "", province))
        else:
            seq += 1
            lines.append(city_line(r, seq, province))
    return lines


def top_and_bottom(figures: pd.DataFrame, n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first and last ``n`` cities by 排名, every city of a tie at the boundary included:
    the first in the listing order of SPEC §3 (score, 开工率, 投资完成率, administrative order),
    the last worst first (that order reversed), as published bulletins name them."""
    cities = figures[figures.city != PROVINCE_ROW]
    ranks = cities.score_rank.astype(int)
    top = cities[ranks <= sorted(ranks)[min(n, len(ranks)) - 1]]
    worst = sorted(ranks, reverse=True)[min(n, len(ranks)) - 1]
    bottom = cities[ranks >= worst]
    return (top.sort_values("list_order"),
            bottom.sort_values("list_order", ascending=False))


_DIGITS = "零一二三四五六七八九"


def numeral_zh(n: int) -> str:
    """A count before a measure word: 1 → 一, 2 → 两 (两个月, 前两位), 10 → 十, 14 → 十四."""
    if n == 2:
        return "两"
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    return (_DIGITS[tens] if tens > 1 else "") + "十" + (_DIGITS[ones] if ones else "")


def rate_text(rate: Fraction | None) -> str:
    """A rate in running text: 100% when exactly full (均达100%), else as in the tables."""
    return "100%" if rate == 1 else percent(rate)


@dataclass(frozen=True)
class RankingBasis:
    """What the ranking is computed from, as the programme's weights say: one rate alone
    (named with its values in the text), or the composite score of several."""
    rates: tuple[str, ...]            # the weighted rates, in the order of SPEC §3
    weights: dict[str, str]           # every weight as a percentage (50%)

    @property
    def single(self) -> bool:
        return len(self.rates) == 1

    @property
    def rate(self) -> str:
        return self.rates[0]

    @property
    def indicator(self) -> str:
        """开工率 (single basis) or 综合得分."""
        return RATE_NAMES[self.rate] if self.single else "综合得分"


def ranking_basis(programme: Programme) -> RankingBasis:
    return RankingBasis(ranking_indicators(programme.weights),
                        {k: f"{Decimal(repr(v)) * 100:.0f}%" for k, v in programme.weights.items()})


@dataclass(frozen=True)
class RankedGroup:
    """The first or last cities of the ranking as the text names them: in order, with their
    value of the basis (a rate, or the score), and whether they share one value."""
    lines: tuple[CityLine, ...]
    values: tuple[str, ...]
    count_zh: str                     # 三 (前三位 / 后三位)

    @property
    def names(self) -> str:
        return "、".join(x.name for x in self.lines)

    @property
    def same(self) -> bool:
        return len(set(self.values)) == 1

    @property
    def full(self) -> bool:
        return self.same and self.values[0] == "100%"


def ranked_group(lines: list[CityLine], basis: RankingBasis) -> RankedGroup:
    if basis.single:
        field_name = RATE_FIELDS[basis.rate]
        values = tuple(rate_text(getattr(x, field_name)) for x in lines)
    else:
        values = tuple(f"{x.score}分" for x in lines)
    return RankedGroup(tuple(lines), values, numeral_zh(len(lines)))


# --------------------------------------------------------------------------- early warning

@dataclass(frozen=True)
class EarlyWarning:
    """One city's projection to the deadlines of N3 (the bulletin's early-warning paragraph).

    ``projected_start_rate`` is the 开工率 expected at the start deadline, None once that
    deadline's month is reached (the overdue list takes over); likewise
    ``projected_investment_rate`` for 投资完成率 at the investment deadline. They come from the
    figures stage (``early_warnings`` of the warehouse, supervision.early_warning)."""
    city: str
    projected_start_rate: float | None
    projected_investment_rate: float | None
    will_miss_start: bool
    will_miss_investment: bool

    @property
    def will_miss(self) -> bool:
        return self.will_miss_start or self.will_miss_investment


# --------------------------------------------------------------------------- the document frame

@dataclass(frozen=True)
class Masthead:
    """发文机关标志 laid out for the 版心: one organ + 文件 on one line, or the organs of a joint
    document stacked and justified to one width with 文件 to their right (GB/T 9704 §7.2.4).
    Sizes in pt/mm, computed here so the template only places them."""
    names: tuple[str, ...]
    single: bool
    font_pt: float               # the organ names
    wenjian_pt: float            # 文件 (joint layout)
    name_width_mm: float         # width every name is justified to
    spacing_mm: tuple[float, ...]  # letter spacing per name
    natural_mm: float            # width before the horizontal squeeze
    scale_x: float               # the squeeze (小标宋 is set narrower than it is tall)
    offset_mm: float             # margin that centres the squeezed block in the 版心


def masthead(issuers: Sequence[str], with_wenjian: bool = True) -> Masthead:
    names = tuple(issuers)
    squeeze = 0.8
    if len(names) == 1:
        text = names[0] + ("文件" if with_wenjian else "")
        em_mm = 15.0                                   # glyph box ≈ 15 mm high
        width = min(TEXT_WIDTH_MM, len(text) * em_mm * squeeze)
        natural = len(text) * em_mm
        scale = width / natural
        return Masthead(names, True, em_mm * PT_PER_MM, 0, natural, (0.0,), natural, scale,
                        (TEXT_WIDTH_MM - natural) / 2)
    longest = max(len(n) for n in names)
    em_mm, wj_mm, gap = 10.5, 19.0, 5.0
    natural = longest * em_mm + gap + 2 * wj_mm
    scale = min(squeeze, TEXT_WIDTH_MM / natural)
    spacing = tuple(0.0 if len(n) < 2 else (longest - len(n)) * em_mm / (len(n) - 1)
                    for n in names)
    return Masthead(names, False, em_mm * PT_PER_MM, wj_mm * PT_PER_MM, longest * em_mm,
                    spacing, natural, scale, (TEXT_WIDTH_MM - natural) / 2)


@dataclass(frozen=True)
class DocHeader:
    """What frames every official document: 版头, title, 主送, signature, 版记."""
    title_lines: tuple[str, ...]
    number: str
    issuers: tuple[str, ...]
    recipients: str
    issued_on: date
    printed_by: str
    cc: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    annotation: str = ""
    wide_attachments: bool = True

    @property
    def title(self) -> str:
        return "".join(self.title_lines)

    @property
    def date_zh(self) -> str:
        return date_zh(self.issued_on)

    @property
    def masthead(self) -> Masthead:
        return masthead(self.issuers)


@dataclass(frozen=True)
class NumberRule:
    """发文字号 of one kind of document: ``prefix〔year〕N号``. N is ``first`` + the data month's
    position in the programme (× ``per_month`` + ``offset`` for per-city documents), unless
    ``numbers`` names it for the month."""
    prefix: str
    first: int
    numbers: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: dict[str, Any], default_prefix: str) -> "NumberRule":
        return cls(prefix=str(cfg.get("prefix", default_prefix)), first=int(cfg.get("first", 1)),
                   numbers={str(k): int(v) for k, v in (cfg.get("numbers") or {}).items()})

    def number(self, year: int, month: Month, position: int, per_month: int = 1,
               offset: int = 0) -> str:
        explicit = self.numbers.get(str(month))
        n = (explicit + offset if explicit is not None
             else self.first + position * per_month + offset)
        return f"{self.prefix}〔{year}〕{n}号"


def _doc_cfg(programme: Programme, kind: str) -> dict[str, Any]:
    return dict(programme.documents.get(kind) or {})


def _issuers(programme: Programme, cfg: dict[str, Any]) -> tuple[str, ...]:
    d = programme.documents
    return tuple(cfg.get("issuers") or d.get("organs") or [d.get("issuer", "")])


def _basis(programme: Programme) -> str:
    return programme.documents.get("basis", "")


def _system(programme: Programme) -> str:
    return programme.documents.get("system_name", "")


@dataclass(frozen=True)
class Targets:
    """N3 and the expected path at the end of the data month, as documents word them."""
    start_deadline: str          # 10月底
    investment_deadline: str     # 12月底
    start_target: str            # 100%
    investment_target: str       # 50%
    start_expected: Fraction
    investment_expected: Fraction

    @property
    def start_expected_pct(self) -> str:
        return percent(self.start_expected)

    @property
    def investment_expected_pct(self) -> str:
        return percent(self.investment_expected)


def targets_of(programme: Programme, month: Month) -> Targets:
    s_num, s_den = programme.expected_start.fraction_at(month)
    i_num, i_den = programme.expected_investment.fraction_at(month)

    def target(value: float) -> str:
        text = f"{Decimal(repr(value)) * 100:f}".rstrip("0").rstrip(".")
        return f"{text}%"
    return Targets(month_end_zh(programme.start_deadline),
                   month_end_zh(programme.investment_deadline),
                   target(programme.expected_start.target), target(programme.investment_target),
                   Fraction(s_num, s_den), Fraction(i_num, i_den))


# --------------------------------------------------------------------------- 月度通报

def monthly_bulletin_context(programme: Programme, month: Month, figures: pd.DataFrame,
                             snapshot: dict[str, Any], published: date,
                             warnings: list[EarlyWarning] | None = None,
                             falsification: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    d = programme.documents
    cfg = _doc_cfg(programme, "monthly_bulletin")
    label = month.label_zh()
    table_title = f"{label}各市州城镇老旧小区改造工作进展情况排名表"
    chart_title = f"{label}各市州城镇老旧小区改造主要指标完成情况"
    doc = DocHeader(
        title_lines=(f"关于{label}全省城镇老旧小区改造", "工作进展情况的通报"),
        number=NumberRule.of(cfg.get("number", {}), d.get("doc_number_prefix", "")).number(
            published.year, month, programme.month_index(month)),
        issuers=_issuers(programme, cfg),
        recipients=cfg.get("recipients", d.get("city_recipients", "各市州")),
        issued_on=published, printed_by=d.get("printed_by", ""),
        cc=tuple(cfg.get("cc", [d.get("city_governments", "各市州人民政府")])),
        attachments=(table_title, chart_title))
    lines = city_lines(figures, programme.province)
    province = next(x for x in lines if x.is_total)
    cities = [x for x in lines if not x.is_total]
    top, bottom = top_and_bottom(figures)
    by_city = {x.city: x for x in cities}
    basis = ranking_basis(programme)
    from .early_warning import pace_window  # noqa: PLC0415
    warnings = warnings or []
    targets = targets_of(programme, month)
    # the lag flags of the figures stage (an empty rate lags nothing; docs/figures.md)
    flags = figures.set_index("city")
    lagging_start = [x.name for x in cities if bool(flags.at[x.city, "start_lagging"])]
    lagging_invest = [x.name for x in cities if bool(flags.at[x.city, "investment_lagging"])]
    shown = programme.province.display_name
    return {
        "doc": doc, "month_zh": label, "month_end_zh": date_zh(month.last_day),
        "snapshot_date_zh": date_zh(snapshot["date"]), "snapshot_name": snapshot["name"],
        "basis": _basis(programme), "system_name": _system(programme),
        "year": programme.year, "province": province, "rows": lines,
        "top": [by_city[c] for c in top.city], "bottom": [by_city[c] for c in bottom.city],
        "basis_rule": basis,
        "top_group": ranked_group([by_city[c] for c in top.city], basis),
        "bottom_group": ranked_group([by_city[c] for c in bottom.city], basis),
        "lagging": [x.name for x in cities if x.lagging],
        "lagging_start": lagging_start, "lagging_investment": lagging_invest,
        "risers": sorted((x for x in cities if x.rank_move.startswith("↑")),
                         key=lambda x: (-int(x.rank_move[1:]), x.rank)),
        "warnings": [w for w in warnings if w.will_miss],
        "warnings_start": [w for w in warnings if w.will_miss_start],
        "warnings_investment": [w for w in warnings if w.will_miss_investment],
        "shown": shown, "pace_months": numeral_zh(pace_window(programme, month)),
        "rate_names": RATE_NAMES,
        "table_rate_names": {**RATE_NAMES, "timely_rate": "报送及时率"},
        "projecting_start": any(w.projected_start_rate is not None for w in warnings),
        "projecting_investment": any(w.projected_investment_rate is not None for w in warnings),
        "targets": targets, "weights": {k: f"{Decimal(repr(v)) * 100:.0f}%"
                                        for k, v in programme.weights.items()},
        "table_title": table_title, "chart_title": chart_title,
        "chart": rates_chart(lines, targets),
        "has_previous": any(x.start_change != "—" for x in cities),
        "start_deadline_passed": month.last_day >= programme.start_deadline,
        "investment_deadline_passed": month.last_day >= programme.investment_deadline,
        "percent": percent,
        # falsification bulletins (N8) issued since the previous 月度通报 (findings.stage)
        "falsification": falsification or [],
    }


def rates_chart(lines: list[CityLine], targets: Targets) -> str:
    """The chart of the three rates per city, as a data: URI (SVG), so the HTML stays one file."""
    from .charts import RatePanel, rates_chart_svg  # noqa: PLC0415

    cities = [x for x in lines if not x.is_total]
    svg = rates_chart_svg(
        [x.name for x in cities],
        [RatePanel("start_rate", "开工率", [x.start for x in cities],
                   float(targets.start_expected), f"序时进度{targets.start_expected_pct}"),
         RatePanel("investment_rate", "投资完成率", [x.investment for x in cities],
                   float(targets.investment_expected), f"序时进度{targets.investment_expected_pct}"),
         RatePanel("timely_rate", "报送及时率", [x.timely for x in cities])])
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def monthly_bulletin(programme: Programme, month: Month, figures: pd.DataFrame,
                     snapshot: dict[str, Any], published: date,
                     warnings: list[EarlyWarning] | None = None,
                     falsification: list[dict[str, Any]] | None = None) -> str:
    return render("monthly_bulletin.html.j2", **monthly_bulletin_context(
        programme, month, figures, snapshot, published, warnings, falsification))


# --------------------------------------------------------------------------- 督办通知

def notice_cities(figures: pd.DataFrame, overdue: pd.DataFrame) -> list[str]:
    """Cities that get a 督办通知: lagging, or with any overdue community (N6)."""
    with_items = set(overdue.city)
    return [r.city for _, r in figures.sort_values("city_order").iterrows()
            if r.city != PROVINCE_ROW and (bool(r.lagging) or r.city in with_items)]


def _rule_descriptions() -> dict[str, str]:
    from .quality import load_rules  # noqa: PLC0415

    return {r.id: r.description for r in load_rules().rules.values()}


def _reason_text(reason: str, detail: Any, rules: dict[str, str]) -> str:
    label = REASON_LABELS[reason]
    if detail is None or (not isinstance(detail, str) and pd.isna(detail)) or detail == "":
        return label
    detail = str(detail)
    if reason == "NOT_REPORTED":
        try:
            return f"{label}（最近填报{date_zh(date.fromisoformat(detail[:10]))}）"
        except ValueError:
            return f"{label}（{detail}）"
    if reason == "DATA_INVALID":
        parts = [rules.get(p.strip(), p.strip()) for p in detail.replace("；", ",").split(",")
                 if p.strip()]
        return f"{label}（{'；'.join(parts)}）"
    if reason == "PLAN_MISMATCH":
        return f"{label}（{detail}）"
    return f"{label}（{detail}）"


@dataclass(frozen=True)
class NoticeCommunity:
    """One overdue community in its city's notice: every reason, and its two officers."""
    seq: int
    county: str
    name: str
    project_id: str
    problems: tuple[str, ...]
    impl_officer: str
    impl_phone: str
    sup_officer: str
    sup_phone: str


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def notice_communities(items: pd.DataFrame) -> list[NoticeCommunity]:
    """The overdue items of one city grouped per community, in the overdue list's order."""
    rules = _rule_descriptions() if (items.reason == "DATA_INVALID").any() else {}
    out: list[NoticeCommunity] = []
    order = items.sort_values("seq") if "seq" in items else items
    for _, group in order.groupby("plan_key", sort=False):
        first = group.iloc[0]
        out.append(NoticeCommunity(
            seq=len(out) + 1, county=_text(first.county), name=_text(first["name"]),
            project_id=_text(first.project_id),
            problems=tuple(_reason_text(r.reason, r.detail, rules) for r in group.itertuples()),
            impl_officer=_text(first.impl_officer), impl_phone=_text(first.impl_phone),
            sup_officer=_text(first.sup_officer), sup_phone=_text(first.sup_phone)))
    return out


def county_summary(items: pd.DataFrame) -> list[dict[str, Any]]:
    """Per county (in the overdue list's order): communities with problems and the number of
    problems per reason — the 附件 of a notice whose full list is too long to print."""
    order = items.sort_values("seq") if "seq" in items else items
    out = []
    for county, group in order.groupby("county", sort=False):
        counts = group.reason.value_counts()
        out.append({"county": _text(county), "communities": int(group.plan_key.nunique()),
                    "problems": int(len(group)),
                    "by_reason": {REASON_LABELS[r]: int(counts.get(r, 0)) for r in REASON_LABELS}})
    return out


def rectify_deadline(published: date, days: int) -> date:
    """``days`` after publication, moved to the next working day when that is a rest day."""
    from .workdays import CalendarNotCovered, next_workday_on_or_after  # noqa: PLC0415

    day = published + timedelta(days=days)
    try:
        return next_workday_on_or_after(day)
    except CalendarNotCovered:
        return day


def supervision_notice_context(programme: Programme, month: Month, city: pd.Series,
                               items: pd.DataFrame, snapshot: dict[str, Any],
                               published: date) -> dict[str, Any]:
    d = programme.documents
    cfg = _doc_cfg(programme, "supervision_notice")
    cities = programme.province.cities
    city_cfg = programme.province.city(city.city)
    community_count = int(items.plan_key.nunique())
    max_listed = int(cfg.get("list_max_communities", 150))
    listed = community_count <= max_listed
    communities = notice_communities(items) if listed else []
    shown = city_cfg.display
    list_title = f"{shown}城镇老旧小区改造逾期及问题小区清单"
    contact = d.get("contact") or {}
    annotation = ""
    if contact:
        annotation = f"联系人：{contact.get('name', '')}，联系电话：{contact.get('phone', '')}"
    doc = DocHeader(
        title_lines=(f"关于督促加快{shown}", "城镇老旧小区改造工作的通知"),
        number=NumberRule.of(cfg.get("number", {}), "").number(
            published.year, month, programme.month_index(month), len(cities), city_cfg.order - 1),
        issuers=_issuers(programme, {"issuers": cfg.get("issuers") or [d.get("issuer", "")]}),
        recipients=str((cfg.get("recipients_by_city") or {}).get(city.city)
                       or cfg.get("recipients", "{city}")).format(city=city.city, short=shown),
        issued_on=published, printed_by=d.get("printed_by", ""),
        cc=tuple(c.format(city=city.city, short=shown) for c in cfg.get("cc", [])),
        attachments=(list_title,) if community_count else (), annotation=annotation)
    reason_counts = items.reason.value_counts()
    counts = [(REASON_LABELS[r], int(reason_counts[r])) for r in REASON_LABELS
              if r in reason_counts.index]
    deadline = rectify_deadline(published, int(cfg.get("rectify_days", 15)))
    return {
        "doc": doc, "month_zh": month.label_zh(), "month_end_zh": date_zh(month.last_day),
        "snapshot_date_zh": date_zh(snapshot["date"]), "basis": _basis(programme),
        "system_name": _system(programme), "city": city_line(city, "", programme.province),
        "quotation": str(cfg.get("quotation") or ""), "basis_rule": ranking_basis(programme),
        "rate_names": RATE_NAMES,
        "targets": targets_of(programme, month), "communities": communities,
        "community_count": community_count,
        "problem_count": len(items), "reason_counts": counts, "list_title": list_title,
        "listed": listed, "county_summary": [] if listed else county_summary(items),
        "reason_labels": [label for label, _ in counts],
        "list_file": f"{city_cfg.code}.xlsx",
        "deadline_zh": date_zh(deadline), "report_to": d.get("issuer", ""),
    }


def supervision_notice(programme: Programme, month: Month, city: pd.Series,
                       items: pd.DataFrame, snapshot: dict[str, Any], published: date) -> str:
    return render("supervision_notice.html.j2", **supervision_notice_context(
        programme, month, city, items, snapshot, published))


# --------------------------------------------------------------------------- 年中 / 年底通报

COMPLETION_KINDS = ("mid_year_bulletin", "year_end_bulletin")
_COMPLETION_DEFAULT_MONTH = {"mid_year_bulletin": 6, "year_end_bulletin": 12}


def completion_period(programme: Programme, kind: str) -> str:
    return f"{programme.year}年" if kind == "year_end_bulletin" else f"{programme.year}年上半年"


def completion_title_lines(programme: Programme, kind: str) -> tuple[str, str]:
    """The title of the 年中/年底通报 as set on two lines (its mail subject joins them)."""
    return (f"关于{completion_period(programme, kind)}全省城镇老旧小区", "改造任务完成情况的通报")


def completion_bulletin_kind(programme: Programme, month: Month) -> str | None:
    """``mid_year_bulletin`` / ``year_end_bulletin`` when the data month is the one configured
    for it (June / December of the programme year by default), else None."""
    for kind in COMPLETION_KINDS:
        cfg = _doc_cfg(programme, kind)
        configured = cfg.get("month") or f"{programme.year}-{_COMPLETION_DEFAULT_MONTH[kind]:02d}"
        if Month.parse(str(configured)) == month:
            return kind
    return None


@dataclass(frozen=True)
class CompletionLine:
    """A city's line in the task-completion table: its figures and whether each goal is met."""
    line: CityLine
    start_met: bool
    investment_met: bool


def completion_bulletin_context(programme: Programme, month: Month, kind: str,
                                figures: pd.DataFrame, snapshot: dict[str, Any],
                                published: date) -> dict[str, Any]:
    d = programme.documents
    cfg = _doc_cfg(programme, kind)
    targets = targets_of(programme, month)
    period = completion_period(programme, kind)
    table_title = f"{period}各市州城镇老旧小区改造任务完成情况表"
    number_cfg = cfg.get("number", {})
    if "value" in number_cfg:
        number_cfg = {**number_cfg, "numbers": {str(month): number_cfg["value"]}}
    doc = DocHeader(
        title_lines=completion_title_lines(programme, kind),
        number=NumberRule.of(number_cfg, d.get("doc_number_prefix", "")).number(
            published.year, month, 0),
        issuers=_issuers(programme, cfg),
        recipients=cfg.get("recipients", d.get("city_recipients", "各市州")),
        issued_on=published, printed_by=d.get("printed_by", ""),
        cc=tuple(cfg.get("cc", [d.get("city_governments", "各市州人民政府")])),
        attachments=(table_title,))
    # goals: by the deadlines (year end: 开工率 ≥ 100 %, 投资完成率 ≥ 50 %); before a deadline,
    # the expected path at the end of the data month
    start_goal = (Fraction(str(programme.expected_start.target))
                  if month.last_day >= programme.start_deadline else targets.start_expected)
    invest_goal = (Fraction(str(programme.investment_target))
                   if month.last_day >= programme.investment_deadline
                   else targets.investment_expected)
    lines = [CompletionLine(x, (x.start or 0) >= start_goal, (x.investment or 0) >= invest_goal)
             for x in city_lines(figures, programme.province)]
    cities = [x for x in lines if not x.line.is_total]
    province = next(x for x in lines if x.line.is_total)
    return {
        "doc": doc, "kind": kind, "year_end": kind == "year_end_bulletin", "period": period,
        "month_zh": month.label_zh(), "month_end_zh": date_zh(month.last_day),
        "snapshot_date_zh": date_zh(snapshot["date"]), "basis": _basis(programme),
        "system_name": _system(programme), "year": programme.year, "targets": targets,
        "start_goal_pct": percent(start_goal), "investment_goal_pct": percent(invest_goal),
        "start_deadline_passed": month.last_day >= programme.start_deadline,
        "investment_deadline_passed": month.last_day >= programme.investment_deadline,
        "province": province, "rows": lines,
        "quotation": str(cfg.get("quotation") or ""),
        "start_met": [x.line.name for x in cities if x.start_met],
        "start_missed": [x.line for x in cities if not x.start_met],
        "investment_met": [x.line.name for x in cities if x.investment_met],
        "investment_missed": [x.line for x in cities if not x.investment_met],
        "table_title": table_title,
    }


def completion_bulletin(programme: Programme, month: Month, kind: str, figures: pd.DataFrame,
                        snapshot: dict[str, Any], published: date) -> str:
    return render("completion_bulletin.html.j2", **completion_bulletin_context(
        programme, month, kind, figures, snapshot, published))


# --------------------------------------------------------------------------- a month

@dataclass(frozen=True)
class RenderedDocument:
    document: str      # monthly_bulletin | mid_year_bulletin | year_end_bulletin | notice:<code>
    html: Path
    pdf: Path


def render_month(programme: Programme, month: Month, figures: pd.DataFrame,
                 items: pd.DataFrame, snapshot: dict[str, Any], published: date,
                 folder: Path, warnings: list[EarlyWarning] | None = None,
                 writer: PdfWriter | None = None,
                 falsification: list[dict[str, Any]] | None = None) -> list[RenderedDocument]:
    """Every document of a data month into ``folder`` (HTML and PDF): the bulletin, the
    年中/年底 bulletin of its month, and ``notices/<city code>``.

    Without ``writer``, the PDFs are rendered by :func:`pdf_workers` processes: this one and,
    when more than one, a pool started before the first HTML is built (its processes import
    WeasyPrint while this one builds the documents) that takes each document as soon as its
    HTML is ready; this process then renders what the pool has not taken yet."""
    folder.mkdir(parents=True, exist_ok=True)
    kind = completion_bulletin_kind(programme, month)
    cities = notice_cities(figures, items)
    workers = pdf_workers(1 + bool(kind) + len(cities)) if writer is None else 1
    pool = PdfPool(workers - 1) if workers > 1 else None
    rendered: list[RenderedDocument] = []
    pending: list[tuple[str, Path]] = []

    def emit(document: str, html: str, stem: Path) -> None:
        stem.parent.mkdir(parents=True, exist_ok=True)
        html_path = stem.with_suffix(".html")
        html_path.write_text(html, encoding="utf-8")
        rendered.append(RenderedDocument(document, html_path, stem.with_suffix(".pdf")))
        if pool is not None:
            pool.submit(html, rendered[-1].pdf)
        else:
            pending.append((html, rendered[-1].pdf))

    try:
        emit("monthly_bulletin", monthly_bulletin(programme, month, figures, snapshot, published,
                                                  warnings, falsification),
             folder / "monthly_bulletin")
        if kind:
            emit(kind, completion_bulletin(programme, month, kind, figures, snapshot, published),
                 folder / kind)
        for name in cities:
            code = programme.province.city(name).code
            row = figures[figures.city == name].iloc[0]
            emit(f"notice:{code}", supervision_notice(programme, month, row,
                                                      items[items.city == name],
                                                      snapshot, published),
                 folder / "notices" / code)
        if pool is not None:
            pool.finish()
        else:
            writer = writer or PdfWriter()
            for html, pdf in pending:
                writer.write(html, pdf)
    finally:
        if pool is not None:
            pool.close()
    log.info("documents %s: %d PDFs rendered in %d process%s", month, len(rendered), workers,
             "es" if workers > 1 else "")
    return rendered


#: below this many documents a month's PDFs are rendered in this process alone (a worker's
#: start-up, ≈ 1.5 s, is more than it would take over)
MIN_PARALLEL_DOCUMENTS = 4


#: processes rendering a month's PDFs when SUPERVISION_PDF_WORKERS is not set
DEFAULT_PDF_WORKERS = 2


def pdf_workers(documents: int) -> int:
    """Processes rendering a month's PDFs, this one included: ``SUPERVISION_PDF_WORKERS``
    (default :data:`DEFAULT_PDF_WORKERS`; 1: this process alone), never more than the
    documents nor the usable cores, and 1 for fewer than :data:`MIN_PARALLEL_DOCUMENTS`
    documents. Measured on an idle 2-core machine (docs/documents.md), June's 16 PDFs at
    1,000 communities take 5.9–6.6 s with 2 processes against 8.8–9.0 s with one; with both
    cores already busy the second process only adds its start-up (≈ 3 s of CPU)."""
    configured = int(os.environ.get("SUPERVISION_PDF_WORKERS") or DEFAULT_PDF_WORKERS)
    if configured <= 1 or documents < MIN_PARALLEL_DOCUMENTS:
        return 1
    return max(1, min(configured, processes_.usable_cores(), documents))


_WORKER_WRITER: PdfWriter | None = None


def _worker_start() -> None:
    global _WORKER_WRITER  # noqa: PLW0603  (one writer per worker process: fonts loaded once)
    _WORKER_WRITER = PdfWriter()


def _worker_write(job: tuple[str, str]) -> str:
    html, target = job
    assert _WORKER_WRITER is not None
    return str(_WORKER_WRITER.write(html, Path(target)))


class PdfPool:
    """``processes`` fresh worker processes (spawned: nothing of the calling process, Airflow's
    task runner included, is inherited) rendering PDFs, each with its own :class:`PdfWriter`,
    and this process rendering alongside them. The processes start when the pool is made, so
    their import of WeasyPrint overlaps whatever this process does meanwhile.

    :meth:`submit` queues a document (the pool takes them in order); :meth:`finish` renders
    the documents the pool has not started, last first, in this process, then waits for the
    rest. The bytes of a PDF depend only on its HTML, so they are the same wherever it is
    rendered."""

    def __init__(self, processes: int) -> None:
        self._pool = processes_.spawned_pool(processes, initializer=_worker_start)
        self._jobs: list[tuple[Any, str, Path]] = []

    def submit(self, html: str, target: Path) -> None:
        self._jobs.append((self._pool.submit(_worker_write, (html, str(target))), html, target))

    def finish(self, writer: PdfWriter | None = None) -> None:
        """Render here what no worker has started (a cancelled job is this process's), from
        the last document back, until the pool has taken the rest; then wait for them."""
        for future, html, target in reversed(self._jobs):
            if not future.cancel():
                break                          # the pool has taken this one and every earlier
            writer = writer or PdfWriter()
            writer.write(html, target)
        for future, _, _ in self._jobs:
            if not future.cancelled():
                future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def render_pdfs_parallel(jobs: list[tuple[str, Path]], workers: int) -> None:
    """Each (html, pdf) rendered by ``workers`` processes, this one included (:class:`PdfPool`),
    the largest documents first."""
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0]))
    if workers <= 1:
        writer = PdfWriter()
        for i in order:
            writer.write(*jobs[i])
        return
    pool = PdfPool(workers - 1)
    try:
        for i in order:
            pool.submit(*jobs[i])
        pool.finish()
    finally:
        pool.close()
