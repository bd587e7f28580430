"""Server-rendered SVG charts of the audience: no JavaScript, nothing fetched.

The charts are inline ``<svg>`` in the ``/stats`` page. The page's CSP
allows one stylesheet and no inline ``style`` attributes, so every colour
and size is an SVG presentation attribute (``fill``, ``stroke``), text uses
``currentColor`` (it follows the page's light or dark scheme), and every
label (feed names and User-Agent products come from requests) is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colour-blind-safe palette (Okabe-Ito), readable on light and dark backgrounds.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442", "#999999")
AGGREGATOR_COLOUR, READER_COLOUR = "#0072B2", "#E69F00"
WIDTH = 720
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a name and a value per day (days shared by every series)."""

    name: str
    values: Sequence[int]


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: a label and its parts (drawn stacked, in the order of ``colours``)."""

    label: str
    parts: Sequence[int]


def _svg(height: int, title: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" {FONT} fill="currentColor">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8 x 10^n)."""
    step = 1
    while True:
        for factor in (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8):
            if step * factor >= value and float(step * factor * 4 / 4).is_integer():
                return max(int(step * factor), 1)
        step *= 10


def _number(value: int) -> str:
    return f"{value:,}"


def line_chart(title: str, days: Sequence[str], series: Sequence[Series]) -> Markup:
    """Lines over days, a y axis with four gridlines, a legend under the plot."""
    left, top, plot_w, plot_h = 56, 12, WIDTH - 120, 220
    top_value = nice_max(max((max(s.values, default=0) for s in series), default=0))
    body: list[str] = []
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="currentColor" stroke-opacity="0.15"/>')  # fmt: skip
        label = _number(round(top_value * i / 4))
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    step = plot_w / max(len(days) - 1, 1)
    every = 1 if len(days) <= 8 else -(-len(days) // 8)
    for i, day in enumerate(days):
        last = i == len(days) - 1
        if (i % every == 0 and len(days) - 1 - i > every / 2) or last:  # no two labels touching
            x = left + step * i
            body.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
                        f'fill-opacity="0.7">{escape(day[5:])}</text>')  # fmt: skip
    ends: list[tuple[float, float, str, int]] = []  # (y, x, colour, last value)
    for n, line in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(
            f"{left + step * i:.1f},{top + plot_h - plot_h * v / top_value:.1f}"
            for i, v in enumerate(line.values)
        )
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5" stroke-linejoin="round"/>')  # fmt: skip
        end_x, end_y = points.rsplit(" ", 1)[-1].split(",")
        body.append(f'<circle cx="{end_x}" cy="{end_y}" r="3.5" fill="{colour}"/>')
        if n < 4 and line.values:  # the biggest lines say their last value
            ends.append((float(end_y), float(end_x), colour, line.values[-1]))
    ends.sort()
    for y, (_, x, colour, value) in zip(_spread([end[0] for end in ends]), ends, strict=True):
        body.append(f'<text x="{x + 8:.1f}" y="{y + 4:.1f}" font-weight="600" '
                    f'fill="{colour}">{_number(value)}</text>')  # fmt: skip
    body += _legend([s.name for s in series], top + plot_h + 40)
    rows = -(-len(series) // 4)
    return _svg(top + plot_h + 40 + 20 * rows, title, body)


def _spread(ys: Sequence[float], gap: float = 14.0) -> list[float]:
    """Sorted label positions pushed ``gap`` apart, each crowd centred on its lines.

    Labels too close form a group placed evenly around the group's mean; a
    group that then reaches its neighbour merges with it, until none touch.
    Lines ending close together stay readable and a lone label stays put.
    """
    groups: list[list[float]] = []  # the wanted positions of each group, in order
    for y in ys:
        groups.append([y])
        while (
            len(groups) > 1
            and _top(groups[-1], gap) < _top(groups[-2], gap) + len(groups[-2]) * gap
        ):
            last = groups.pop()
            groups[-1].extend(last)
    return [_top(group, gap) + i * gap for group in groups for i in range(len(group))]


def _top(group: Sequence[float], gap: float) -> float:
    """Where the first label of an evenly spaced ``group`` goes, centred on its mean."""
    return sum(group) / len(group) - gap * (len(group) - 1) / 2


def _legend(names: Sequence[str], y: int) -> list[str]:
    out = []
    for n, name in enumerate(names):
        x, row = 56 + (n % 4) * 165, y + (n // 4) * 20
        colour = PALETTE[n % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{row - 9}" width="12" height="12" rx="2" fill="{colour}"/>')
        out.append(f'<text x="{x + 18}" y="{row + 1}">{escape(_cut(name, 22))}</text>')
    return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(title: str, bars: Sequence[Bar], colours: Sequence[str]) -> Markup:
    """Horizontal bars, biggest first as given, each part stacked, the total at its end."""
    label_w, row_h, top = 170, 26, 6
    plot_w = WIDTH - label_w - 80
    top_value = max((sum(b.parts) for b in bars), default=0) or 1
    body: list[str] = []
    for i, bar in enumerate(bars):
        y = top + i * row_h
        body.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
                    f"{escape(_cut(bar.label, 26))}</text>")  # fmt: skip
        x = float(label_w)
        for part, colour in zip(bar.parts, colours, strict=False):
            width = plot_w * part / top_value
            if width > 0:
                body.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(width, 1.5):.1f}" '
                            f'height="{row_h - 8}" rx="3" fill="{colour}"/>')  # fmt: skip
            x += width
        body.append(f'<text x="{x + 6:.1f}" y="{y + 16}" font-weight="600">'
                    f"{_number(sum(bar.parts))}</text>")  # fmt: skip
    return _svg(top + max(len(bars), 1) * row_h + 4, title, body)


def tiles(numbers: Sequence[tuple[int, str]]) -> Markup:
    """Big numbers with a caption each, side by side (the page's summary)."""
    width = WIDTH / max(len(numbers), 1)
    body: list[str] = []
    for i, (value, caption) in enumerate(numbers):
        x = i * width
        body.append(f'<rect x="{x + 4:.1f}" y="2" width="{width - 8:.1f}" height="76" rx="10" '
                    f'fill="currentColor" fill-opacity="0.07"/>')  # fmt: skip
        body.append(f'<text x="{x + 18:.1f}" y="44" font-size="30" font-weight="700" '
                    f'fill="{PALETTE[5 if i else 3]}">{_number(value)}</text>')  # fmt: skip
        body.append(f'<text x="{x + 18:.1f}" y="66" fill-opacity="0.75">'
                    f"{escape(_cut(caption, 28))}</text>")  # fmt: skip
    return _svg(80, "Summary", body)
