"""Regenerate the PNG previews of docs/documents.md from rendered PDFs (poppler's pdftoppm).

    PYTHONPATH=plugins .venv/bin/python scripts/document_previews.py output/2020-06 [more month folders]

For the monthly bulletin, the notice named by --notice and the falsification bulletin (written by
`make findings`) of the first folder and the 年中/年底 bulletins of every folder, it writes to
docs/previews/: `<document>-pages.png`, every page side by side as thumbnails, and
`<document>-<page>.png` at 60 dpi for the first page, each attachment's first page and the
last page (the 版记). Colours are reduced to a small palette to keep the files small.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "previews"


def pages_text(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def render(pdf: Path, dpi: int, folder: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(folder / "p")], check=True)
    return sorted(folder.glob("p-*.png"), key=lambda p: int(p.stem.split("-")[1]))


def save(image: Image.Image, path: Path) -> None:
    image.convert("RGB").quantize(colors=48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) \
        .save(path, optimize=True)


def strip(pages: list[Path], path: Path) -> None:
    images = [Image.open(p) for p in pages]
    gap = 6
    sheet = Image.new("RGB", (sum(i.width for i in images) + gap * (len(images) + 1),
                              max(i.height for i in images) + 2 * gap), (190, 190, 190))
    x = gap
    for image in images:
        sheet.paste(image, (x, gap + (sheet.height - 2 * gap - image.height) // 2))
        x += image.width + gap
    save(sheet, path)


def key_pages(texts: list[str]) -> list[int]:
    """1-based: the first page, the first page of every attachment, the last page."""
    keys = [1]
    for i, text in enumerate(texts, start=1):
        if re.match(r"\s*附件\d*\s*\n", text):
            keys.append(i)
    keys.append(len(texts))
    return sorted(set(keys))


def preview(pdf: Path, name: str) -> list[Path]:
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small"
        small.mkdir()
        strip(render(pdf, 30, small), TARGET / f"{name}-pages.png")
        written.append(TARGET / f"{name}-pages.png")
        full = Path(tmp) / "f"
        full.mkdir()
        pages = render(pdf, 60, full)
        for n in key_pages(pages_text(pdf)):
            path = TARGET / f"{name}-{n}.png"
            save(Image.open(pages[n - 1]), path)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--notice", default="shaoyang", help="the city code of the notice shown")
    args = parser.parse_args()
    TARGET.mkdir(parents=True, exist_ok=True)
    for i, folder in enumerate(args.folders):
        for stem in ("monthly_bulletin", "mid_year_bulletin", "year_end_bulletin"):
            pdf = folder / f"{stem}.pdf"
            if pdf.exists() and (stem != "monthly_bulletin" or i == 0):
                name = stem
                for path in preview(pdf, name):
                    print(path.relative_to(ROOT), f"{path.stat().st_size // 1024} KB")
        falsification = folder / "spot_checks" / "falsification_bulletin.pdf"   # make findings
        if falsification.exists() and i == 0:
            for path in preview(falsification, "falsification_bulletin"):
                print(path.relative_to(ROOT), f"{path.stat().st_size // 1024} KB")
        notice = folder / "notices" / f"{args.notice}.pdf"
        if notice.exists() and i == 0:   # the notice of the first month given
            for path in preview(notice, f"notice-{args.notice}"):
                print(path.relative_to(ROOT), f"{path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
