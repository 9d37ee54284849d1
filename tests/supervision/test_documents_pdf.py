"""The PDF writer's shortcuts (issue 17) give the bytes WeasyPrint gives without them: the
documents' stylesheet parsed once per writer, font files copied once per process, and a
month's PDFs rendered by this process and a pool of workers."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from supervision import documents, paths, processes
from supervision.months import Month

from .test_documents_context import PROGRAMME, SNAPSHOT, make_figures, make_items


def _plain_weasyprint(writer: documents.PdfWriter, html: str, target: Path,
                      monkeypatch: pytest.MonkeyPatch) -> bytes:
    """``html`` to PDF as WeasyPrint does it alone: the inline <style>, its own font copies."""
    from weasyprint.pdf import fonts as pdf_fonts
    from weasyprint.text import fonts as text_fonts

    with monkeypatch.context() as m:
        m.setattr(pdf_fonts, "get_hb_object_data", text_fonts.get_hb_object_data)
        writer._html(string=html, base_url=str(paths.templates_dir())).write_pdf(
            str(target), font_config=writer._fonts, pdf_identifier=documents.PDF_IDENTIFIER,
            uncompressed_pdf=False)
    return target.read_bytes()


def _notice(city: str, names: list[str]) -> str:
    figures = make_figures({city: {"lagging": True}})
    row = figures[figures.city == city].iloc[0]
    return documents.supervision_notice(PROGRAMME, Month(2020, 6), row, make_items(city, names),
                                        SNAPSHOT, date(2020, 7, 2))


def test_the_writer_gives_the_bytes_of_weasyprint_alone(tmp_path, monkeypatch):
    writer = documents.PdfWriter()
    assert writer._shared_css is not None
    # two notices (the second finds the font files already copied), the second twice
    for i, html in enumerate([_notice("邵阳市", ["北塔小区"]), _notice("岳阳市", ["南湖小区"])]):
        assert writer._shared_style in html
        fast = writer.write(html, tmp_path / f"fast{i}.pdf").read_bytes()
        assert fast == _plain_weasyprint(writer, html, tmp_path / f"plain{i}.pdf", monkeypatch)
    assert writer.write(html, tmp_path / "again.pdf").read_bytes() == fast


def test_a_document_with_a_stylesheet_of_its_own_keeps_the_inline_one(tmp_path, monkeypatch):
    writer = documents.PdfWriter()
    html = _notice("邵阳市", ["北塔小区"]).replace("</head>", "<style>p { color: #333; }</style></head>")
    fast = writer.write(html, tmp_path / "fast.pdf").read_bytes()
    assert fast == _plain_weasyprint(writer, html, tmp_path / "plain.pdf", monkeypatch)


def test_stylesheets_whose_origin_matters_are_not_shared():
    assert not documents._origin_matters(documents.stylesheet(*documents.DOCUMENT_CSS))
    for css in ("p { color: red !important; }", "p{color:red!IMPORTANT}", "@layer a { p {} }",
                "@import url(x.css);", "@counter-style x { system: cyclic; }"):
        assert documents._origin_matters(css), css


def test_pdf_workers(monkeypatch):
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    monkeypatch.delenv("SUPERVISION_PDF_WORKERS", raising=False)
    assert documents.pdf_workers(16) == 2                 # the default (measured, docs/documents.md)
    monkeypatch.setattr(processes, "usable_cores", lambda: 1)
    assert documents.pdf_workers(16) == 1                 # one core: this process alone
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    monkeypatch.setenv("SUPERVISION_PDF_WORKERS", "1")
    assert documents.pdf_workers(16) == 1                 # opted out
    monkeypatch.setenv("SUPERVISION_PDF_WORKERS", "8")
    assert documents.pdf_workers(16) == 2                 # capped by the usable cores
    assert documents.pdf_workers(documents.MIN_PARALLEL_DOCUMENTS - 1) == 1


def test_spawning_hides_the_main_module_and_restores_it():
    main = sys.modules["__main__"]
    before = (main.__dict__.get("__spec__"), main.__dict__.get("__file__"))
    with processes.main_module_hidden():
        assert getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    assert (main.__dict__.get("__spec__"), main.__dict__.get("__file__")) == before


def test_the_pool_and_this_process_render_the_bytes_of_one_writer(tmp_path):
    htmls = [_notice(c, [f"{c}小区"]) for c in ("邵阳市", "岳阳市", "常德市", "张家界市")]
    jobs = [(h, tmp_path / f"pool{i}.pdf") for i, h in enumerate(htmls)]
    documents.render_pdfs_parallel(jobs, 2)
    writer = documents.PdfWriter()
    for i, (html, pdf) in enumerate(jobs):
        assert pdf.read_bytes() == writer.write(html, tmp_path / f"one{i}.pdf").read_bytes()
