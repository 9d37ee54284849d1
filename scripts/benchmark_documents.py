"""Benchmark: render every document of a data month from the warehouse, as the documents step
does, and print the time per document and per month.

    PYTHONPATH=plugins .venv/bin/python scripts/benchmark_documents.py \
        [--month 2020-06] [--warehouse sqlite:///var/warehouse.db] [--repeat 3]

The month must be in the warehouse (run it first, e.g. `make demo`). Files go to a temporary
folder. The results of the last measurement are in docs/documents.md.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from supervision import documents, figures, pipeline, paths
from supervision import warehouse as wh
from supervision.config import programme_for_month
from supervision.months import Month
from supervision.workdays import publication_date


class TimedWriter(documents.PdfWriter):
    """A PdfWriter that records the layout and PDF time and the pages of every document."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str, int, float, float]] = []

    def write(self, html: str, target: Path) -> Path:
        started = time.perf_counter()
        document = self._html(string=html, base_url=str(paths.templates_dir())).render(
            font_config=self._fonts)
        laid_out = time.perf_counter()
        document.write_pdf(str(target), pdf_identifier=documents.PDF_IDENTIFIER)
        self.records.append((target.stem, len(document.pages), laid_out - started,
                             time.perf_counter() - laid_out))
        return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default="2020-06")
    parser.add_argument("--warehouse", default=f"sqlite:///{paths.PROJECT_ROOT / 'var' / 'warehouse.db'}")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    month = Month.parse(args.month)
    programme = programme_for_month(month)
    engine = wh.connect(args.warehouse)
    city = figures.read_city_figures(engine, month)
    if city.empty:
        raise SystemExit(f"{args.month} is not in {args.warehouse}: run the month first")
    items = wh.query(engine, pipeline.NOTICE_ITEMS_SQL, report_month=str(month),
                     programme_year=programme.year)
    load = pipeline._current_load(engine, month)
    snapshot = {"name": load["snapshot_file"], "date": date.fromisoformat(load["snapshot_date"])}
    published = publication_date(month, int(programme.schedule.get("day_of_month", 2)))

    started = time.perf_counter()
    writer = TimedWriter()
    print(f"WeasyPrint import and font configuration: {time.perf_counter() - started:.2f} s; "
          f"font subsets by {'HarfBuzz' if documents.harfbuzz_subsetter() else 'fontTools (slow)'}")
    months = []
    for run in range(args.repeat):
        writer.records.clear()
        with tempfile.TemporaryDirectory() as folder:
            t = time.perf_counter()
            rendered = documents.render_month(programme, month, city, items, snapshot, published,
                                              Path(folder), writer=writer)
            months.append(time.perf_counter() - t)
        layout = sum(r[2] for r in writer.records)
        pdf = sum(r[3] for r in writer.records)
        pages = sum(r[1] for r in writer.records)
        print(f"run {run + 1}: {len(rendered)} documents, {pages} pages in {months[-1]:.2f} s "
              f"(templates and chart {months[-1] - layout - pdf:.2f} s, layout {layout:.2f} s, "
              f"PDF {pdf:.2f} s); {months[-1] / len(rendered):.2f} s a document")
    print("per document (last run): name, pages, layout s, PDF s")
    for name, n, lay, pdf in writer.records:
        print(f"  {name:20} {n:2d} {lay:6.2f} {pdf:6.2f}")
    print(f"month: median {statistics.median(months):.2f} s over {len(months)} runs")


if __name__ == "__main__":
    main()
