"""The bulletin's chart: SVG whose labels are text in the CJK face, the same bytes for the same
figures."""
from __future__ import annotations

import re

from supervision.charts import RatePanel, cjk_font, rates_chart_svg

CITIES = ["长沙市", "株洲市", "湘西自治州"]


def _chart(values=(0.5, None, 1.2)):
    return rates_chart_svg(CITIES, [RatePanel("start_rate", "开工率", values, 1 / 3, "序时进度33.33%"),
                                    RatePanel("timely_rate", "报送及时率", (1.0, 0.9, 0.0))])


def test_the_chart_is_deterministic_and_self_contained():
    first, second = _chart(), _chart()
    assert first == second
    svg = first.decode("utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "<!--" not in svg and not re.search(r"\d{4}-\d{2}-\d{2}T", svg)   # no version, no date
    assert "长沙市" in svg and "湘西自治州" in svg and "序时进度33.33%" in svg  # labels are text…
    assert f"'{cjk_font()}'" in svg                                      # …in the CJK face


def test_the_chart_changes_with_the_figures_and_draws_cjk_labels():
    assert _chart() != _chart((0.5, 0.1, 1.2))
    assert cjk_font() is not None, "no CJK font for chart labels (make fonts)"
    # an empty rate is drawn as 0 rather than failing
    assert b"<svg" in _chart((None, None, None))
