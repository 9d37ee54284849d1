"""The official documents of a month, rendered from the sample data (June 2020: the monthly
bulletin, the 年中 bulletin and the notices): what they say equals the published tables, the
right cities get notices, phone numbers stay in the notice of their own city, and rendering
the month again gives the same bytes."""
from __future__ import annotations

import csv
import re
import subprocess
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from supervision import documents, figures, pipeline
from supervision import warehouse as wh
from supervision.config import load_programme
from supervision.months import Month
from tests.fixtures.runs import month_settings, warehouse_env

ORDER = ["长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市", "张家界市", "益阳市",
         "郴州市", "永州市", "怀化市", "娄底市", "湘西自治州"]
# SPEC §5: the columns of the bulletin's 附件 table
RANKING_HEADERS = ["序号", "市州", "任务数", "累计开工数", "开工率", "计划投资额（万元）",
                   "累计完成投资额（万元）", "投资完成率", "报送及时率", "综合得分", "排名", "排名较上月"]
#: documents print the province's short names (湘西州); data files keep the configured names
SHOWN = {"湘西自治州": "湘西州"}
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts (<br> dropped), with the table's class."""

    def __init__(self):
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append((dict(attrs).get("class", ""), []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return {cls: rows for cls, rows in parser.tables}


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _pct(fraction: str) -> str:
    if fraction == "":
        return "—"
    return f"{(Decimal(fraction) * 100).quantize(Decimal('0.01'), ROUND_HALF_UP)}%"


def _wan(amount: str) -> str:
    return str(Decimal(amount).quantize(Decimal("0.01"), ROUND_HALF_UP))


@pytest.fixture(scope="module")
def june(sample_landing, tmp_path_factory):
    """June 2020 of the sample run through the stages (no Airflow); the warehouse stays."""
    out = tmp_path_factory.mktemp("documents")
    with warehouse_env(f"sqlite:///{out / 'warehouse.db'}") as url:
        s = month_settings(sample_landing, out)
        pipeline.ingest(s)
        pipeline.check_quality(s)
        pipeline.compute_figures(s)
        summary = pipeline.render_documents(s)
    return out / "2020-06", url, summary


def _month_inputs(url: str, month: Month) -> dict:
    return pipeline.document_inputs(wh.connect(url), month)


# --------------------------------------------------------------------------- the bulletin

def test_attachment_table_equals_ranking_csv(june):
    folder, _, _ = june
    ranking = _csv(folder / "ranking.csv")
    table = tables_of((folder / "monthly_bulletin.html").read_text("utf-8"))["data ranking"]
    header, rows = table[0], table[1:]
    assert header == RANKING_HEADERS
    assert [r["市州"] for r in ranking] == ORDER + ["全省"]
    assert [r[1] for r in rows] == [SHOWN.get(c, c) for c in ORDER] + ["全省"]
    for seq, (row, r) in enumerate(zip(rows, ranking), start=1):
        expected = [str(seq) if r["市州"] != "全省" else "", SHOWN.get(r["市州"], r["市州"]), r["任务数"], r["累计开工数"],
                    _pct(r["开工率"]), _wan(r["计划投资额"]), _wan(r["累计完成投资额"]),
                    _pct(r["投资完成率"]), _pct(r["报送及时率"]), r["综合得分"], r["排名"]]
        assert row[:11] == expected, r["市州"]
        move = r["排名较上月"]
        assert row[11] == ("" if move == "" else "—" if int(move) == 0
                           else f"↑{move}" if int(move) > 0 else f"↓{-int(move)}"), r["市州"]


def test_the_pdf_carries_the_same_table_and_the_official_frame(june):
    folder, _, summary = june
    text = pdf_text(folder / "monthly_bulletin.pdf")
    flat = re.sub(r"\s+", "", text)
    for r in _csv(folder / "ranking.csv"):
        cells = [SHOWN.get(r["市州"], r["市州"]), r["任务数"], r["累计开工数"], _pct(r["开工率"]), _wan(r["计划投资额"]),
                 _wan(r["累计完成投资额"]), _pct(r["投资完成率"]), _pct(r["报送及时率"]), r["综合得分"]]
        assert "".join(cells) in flat, r["市州"]
    # GB/T 9704: 发文字号 with 〔〕, 主送 ending in ：, Chinese dates, 抄送 and 印发, page numbers
    assert "湘建城〔2020〕61号" in flat
    assert "各市州住房和城乡建设局、发展改革委员会、财政局，长沙市人居环境局：" in flat
    assert "抄送：各市州人民政府。" in flat
    assert "湖南省住房和城乡建设厅办公室2020年7月2日印发" in flat
    assert re.search(r"—\s*1\s*—", text) and re.search(r"—\s*2\s*—", text)
    assert "附件：1.2020年6月各市州城镇老旧小区改造工作进展情况排名表" in flat
    assert summary["published_on"] == "2020-07-02"


def test_the_bulletin_names_top_and_bottom_three_and_the_lagging_cities(june):
    folder, _, _ = june
    ranking = [r for r in _csv(folder / "ranking.csv") if r["市州"] != "全省"]
    html = (folder / "monthly_bulletin.html").read_text("utf-8")
    ranks = sorted(int(r["排名"]) for r in ranking)
    top = [SHOWN.get(r["市州"], r["市州"]) for r in sorted(ranking, key=lambda r: int(r["排名表位次"]))
           if int(r["排名"]) <= ranks[2]]                      # ties at the boundary included
    # the bottom three worst first, as published bulletins name them
    bottom = [SHOWN.get(r["市州"], r["市州"]) for r in sorted(ranking, key=lambda r: -int(r["排名表位次"]))
              if int(r["排名"]) >= ranks[-3]]
    top_text = re.search(r"（一）排名靠前的市州。</span>(.*?)综合排名靠前", html).group(1)
    bottom_text = re.search(r"（二）排名靠后的市州。</span>(.*?)综合排名靠后", html).group(1)
    assert re.findall(r"([^、（）]+?)（第\d+名", top_text) == top
    assert re.findall(r"([^、（）]+?)（第\d+名", bottom_text) == bottom
    bottom_ranks = [int(n) for n in re.findall(r"（第(\d+)名", bottom_text)]
    assert bottom_ranks == sorted(bottom_ranks, reverse=True)
    lagging = [r["市州"] for r in ranking if r["进度滞后"] == "是"]
    assert lagging
    section = re.search(r"（三）进度滞后的市州。</span>(.*?)</p>", html).group(1)
    named = set(re.findall("|".join(SHOWN.get(c, c) for c in ORDER), section))
    assert named == {SHOWN.get(c, c) for c in lagging}


def test_pdfs_embed_their_fonts(june):
    folder, _, _ = june
    for pdf in [folder / "monthly_bulletin.pdf", next((folder / "notices").glob("*.pdf"))]:
        out = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True,
                             text=True).stdout.splitlines()[2:]
        assert out, f"{pdf.name}: no fonts"
        for line in out:
            assert line.split()[-5] == "yes", line   # columns: … emb sub uni object ID
        assert any("CJK" in line or "AR-PL" in line for line in out)


# --------------------------------------------------------------------------- notices

def test_notices_go_to_lagging_cities_and_cities_with_overdue_communities(june):
    folder, _, summary = june
    programme = load_programme(2020)
    ranking = _csv(folder / "ranking.csv")
    overdue = {r["市州"] for r in _csv(folder / "overdue.csv")}
    lagging = {r["市州"] for r in ranking if r["进度滞后"] == "是"}
    expected = {programme.province.city(c).code for c in lagging | overdue}
    written = {p.stem for p in (folder / "notices").glob("*.pdf")}
    assert written == expected == {d.split(":")[1] for d in summary["documents"]
                                   if d.startswith("notice:")}
    assert {p.stem for p in (folder / "notices").glob("*.html")} == written


def test_each_notice_lists_its_own_overdue_communities(june):
    folder, _, _ = june
    programme = load_programme(2020)
    overdue = _csv(folder / "overdue.csv")
    for city in programme.province.cities:
        path = folder / "notices" / f"{city.code}.html"
        if not path.exists():
            continue
        listed = tables_of(path.read_text("utf-8")).get("data notice-list", [[]])[1:]
        mine = {(r["所在县市区"], r["小区名称"]) for r in overdue if r["市州"] == city.name}
        assert {(row[1], row[2]) for row in listed} == mine, city.name


def test_phone_numbers_stay_in_the_notice_of_their_own_city(june):
    folder, url, _ = june
    inputs = _month_inputs(url, Month(2020, 6))
    programme, items = inputs["programme"], inputs["items"]
    phones: dict[str, set[str]] = {}
    for r in items.itertuples():
        for phone in (r.impl_phone, r.sup_phone):
            if isinstance(phone, str) and phone:
                phones.setdefault(r.city, set()).add(phone)
    assert phones
    circulated = [folder / "monthly_bulletin.html", folder / "monthly_bulletin.pdf",
                  folder / "mid_year_bulletin.html", folder / "mid_year_bulletin.pdf"]
    for path in circulated:
        text = pdf_text(path) if path.suffix == ".pdf" else path.read_text("utf-8")
        assert not MOBILE.search(text) and not LANDLINE.search(text), path.name
    for city in programme.province.cities:
        path = folder / "notices" / f"{city.code}.pdf"
        if not path.exists():
            continue
        text = pdf_text(path)
        own = phones.get(city.name, set())
        assert own and any(p in text for p in own), city.name   # they are there…
        others = set().union(*(v for k, v in phones.items() if k != city.name)) - own
        assert not [p for p in others if p in text], city.name  # …and nobody else's


# --------------------------------------------------------------------------- 年中通报

def test_the_june_run_writes_the_mid_year_bulletin(june):
    folder, _, summary = june
    assert "mid_year_bulletin" in summary["documents"]
    html = (folder / "mid_year_bulletin.html").read_text("utf-8")
    assert "关于2020年上半年全省城镇老旧小区<br>改造任务完成情况的通报" in html
    assert "湘建城〔2020〕90号" in html
    rows = tables_of(html)["data completion"][2:]
    ranking = {SHOWN.get(r["市州"], r["市州"]): r for r in _csv(folder / "ranking.csv")}
    assert [r[1] for r in rows] == [SHOWN.get(c, c) for c in ORDER] + ["全省"]
    for row in rows:
        r = ranking[row[1]]
        assert row[3:5] == [r["累计开工数"], _pct(r["开工率"])]
        # by the end of June the expected path is 2/6 of 100 % and 2/8 of 50 %
        assert row[5] == ("是" if Decimal(r["开工率"]) >= Decimal(1) / 3 else "否"), row[1]
        assert row[9] == ("是" if Decimal(r["投资完成率"]) >= Decimal("0.125") else "否"), row[1]
    assert "抄送：各市州人民政府。" in re.sub(r"\s+", "", pdf_text(folder / "mid_year_bulletin.pdf"))


# --------------------------------------------------------------------------- determinism

def test_rendering_the_month_again_gives_identical_bytes(june, tmp_path, monkeypatch):
    """The first rendering in 2 worker processes, the second in this process: same bytes."""
    monkeypatch.setenv("SUPERVISION_PDF_WORKERS", "2")
    folder, url, _ = june
    month = Month(2020, 6)
    inputs = _month_inputs(url, month)
    assert inputs["published"] == date(2020, 7, 2)
    first = documents.render_month(folder=tmp_path / "a", **inputs)
    second = documents.render_month(folder=tmp_path / "b", writer=documents.PdfWriter(), **inputs)
    assert [d.document for d in first] == [d.document for d in second]
    assert len(first) >= 3
    for a, b in zip(first, second):
        assert a.html.read_bytes() == b.html.read_bytes(), a.document
        assert a.pdf.read_bytes() == b.pdf.read_bytes(), a.document
        # and the same as the run's own files
        published_file = folder / a.pdf.relative_to(tmp_path / "a")
        assert published_file.read_bytes() == a.pdf.read_bytes(), a.document


def test_the_html_is_self_contained(june):
    folder, _, _ = june
    html = (folder / "monthly_bulletin.html").read_text("utf-8")
    assert "<style>" in html and "data:image/svg+xml;base64," in html
    assert not re.search(r'(?:src|href)="(?!data:)', html)
