"""Charts of the bulletins (matplotlib), as SVG.

The labels stay text, set in the documents' Hei face (Noto Sans CJK SC, which the PDF embeds
for its headings anyway): searchable and crisp, and twice as fast to draw into the PDF as
glyph outlines. The SVG carries no date, no version comment and fixed element ids, so the same
figures give the same bytes.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Sequence

#: Hei faces for chart labels; the first one installed is used (fonts-noto-cjk first)
CJK_SANS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
            "WenQuanYi Micro Hei", "AR PL UMing CN")

#: one colour per rate; they stay distinguishable when printed in grey
COLOURS = {"start_rate": "#b7282e", "investment_rate": "#1f5fa8", "timely_rate": "#5b6770"}
HIGHLIGHT = "#e8a33d"   # a bar under the expected path


@dataclass(frozen=True)
class RatePanel:
    """One indicator: its rate per city (fractions; None = empty, drawn as 0) and, when the
    indicator has one, the expected path at the end of the month."""
    key: str                              # start_rate | investment_rate | timely_rate
    title: str                            # 开工率
    values: Sequence[float | None]
    expected: float | None = None         # fraction
    expected_label: str = ""              # 序时进度33.33%


def cjk_font() -> str | None:
    """The CJK face matplotlib will draw labels with (None: none installed)."""
    from matplotlib import font_manager  # noqa: PLC0415

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_SANS if name in installed), None)


def rates_chart_svg(cities: Sequence[str], panels: Sequence[RatePanel],
                    width_mm: float = 225, height_mm: float = 112) -> bytes:
    """Side-by-side horizontal bar charts, one per indicator, cities top to bottom in the order
    given (administrative order). Bars under the expected path are drawn in a warning colour
    and the path as a dashed line. Returns SVG bytes, identical for identical arguments."""
    import matplotlib  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    font = cjk_font()
    rc = {
        "svg.fonttype": "none",                      # labels as <text>, not outlines
        "svg.hashsalt": "renovation-supervision",    # fixed ids instead of random ones
        "font.family": [font] if font else ["sans-serif"],
        "font.size": 8,
        "axes.unicode_minus": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 0.6,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.0,
    }
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4))
        axes = fig.subplots(1, len(panels), sharey=True)
        axes = list(axes) if len(panels) > 1 else [axes]
        ys = list(range(len(cities)))
        for ax, panel in zip(axes, panels):
            values = [0.0 if v is None else float(v) * 100 for v in panel.values]
            expected = None if panel.expected is None else panel.expected * 100
            colours = [HIGHLIGHT if expected is not None and v < expected
                       else COLOURS.get(panel.key, "#555555") for v in values]
            bars = ax.barh(ys, values, height=0.62, color=colours, zorder=2)
            ax.bar_label(bars, labels=[f"{v:.2f}%" for v in values], fontsize=6.5, padding=2)
            top = max([100.0, *values]) * 1.22
            ax.set_xlim(0, top)
            if expected is not None:
                ax.axvline(expected, color="#222222", linestyle=(0, (4, 2)), linewidth=0.8,
                           zorder=1.5)
                ax.text(expected, -0.9, panel.expected_label, fontsize=6.5, ha="center",
                        va="bottom", color="#222222")
            ax.set_title(panel.title, fontsize=9.5, pad=12)
            ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:.0f}%")
            ax.set_xticks([0, 25, 50, 75, 100])
            ax.tick_params(axis="x", labelsize=6.5)
            ax.xaxis.grid(True, linewidth=0.4, color="#dddddd", zorder=0)
            ax.set_axisbelow(True)
        axes[0].set_yticks(ys, list(cities), fontsize=8)
        axes[0].invert_yaxis()
        fig.subplots_adjust(left=0.085, right=0.99, top=0.9, bottom=0.07, wspace=0.12)
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return _strip_comments(buf.getvalue())


def _strip_comments(svg: bytes) -> bytes:
    """Drop XML comments (matplotlib writes its version into one)."""
    return re.sub(rb"<!--.*?-->\s*", b"", svg, flags=re.S)
