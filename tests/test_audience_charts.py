"""The /stats charts as a person reads them: labels that never sit on each other."""

from __future__ import annotations

import re
from itertools import pairwise

from feedsvc.audience.charts import Series, line_chart


def text_positions(svg: str, fill: str | None = None) -> list[tuple[float, float, str]]:
    """(x, y, text) of every <text> in ``svg`` (only those drawn in ``fill`` if given)."""
    found = []
    for attrs, text in re.findall(r"<text ([^>]*)>([^<]*)</text>", svg):
        if fill is not None and f'fill="{fill}"' not in attrs:
            continue
        x = float(re.search(r'\bx="([-0-9.]+)"', attrs).group(1))
        y = float(re.search(r'\by="([-0-9.]+)"', attrs).group(1))
        found.append((x, y, text))
    return found


def test_last_values_of_lines_ending_close_together_do_not_overlap():
    days = [f"2026-11-{d:02d}" for d in range(1, 15)]
    series = [
        Series("main", [800 + 40 * i for i in range(14)]),
        Series("north-korea", [190 + i for i in range(14)]),
        Series("diplomacy", [150 + i for i in range(14)]),
        Series("popular", [140 + i for i in range(14)]),
    ]
    svg = str(line_chart("Subscribers", days, series))
    labels = sorted(
        (y, text) for x, y, text in text_positions(svg) if text in {"1,320", "203", "163", "153"}
    )
    assert [text for _, text in labels] == ["1,320", "203", "163", "153"]
    assert all(b[0] - a[0] >= 14 for a, b in pairwise(labels)), labels


def test_day_labels_on_the_x_axis_keep_apart():
    days = [f"2026-11-{d:02d}" for d in range(1, 15)]
    svg = str(line_chart("Subscribers", days, [Series("main", list(range(14)))]))
    xs = sorted(x for x, _, text in text_positions(svg) if re.fullmatch(r"\d\d-\d\d", text))
    assert xs and "11-14" in svg, "the last day is always labelled"
    gaps = [b - a for a, b in pairwise(xs)]
    assert min(gaps) >= gaps[0] - 0.01, gaps  # the last label keeps at least the usual spacing
