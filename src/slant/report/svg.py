"""Inline SVG charts for the HTML report: a forest plot of estimates with CIs, and rates as bars.

Both draw one row per item, a label on the left and the numbers on the right, so a chart reads like
the table beside it. Every piece of text is escaped; nothing is fetched from the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH, LABEL_W, NUMBER_W, ROW_H, TOP = 860, 330, 190, 22, 26
PLOT_W = WIDTH - LABEL_W - NUMBER_W - 20
COLOURS = {
    "significant": "#b03a2e",
    "equivalent": "#1e8449",
    "ns": "#566573",
    "untested": "#566573",
    "degenerate": "#566573",
}


@dataclass
class Item:
    """One row of a chart: a label, an estimate with an optional CI, and how to colour it."""

    label: str
    estimate: float
    low: float | None = None
    high: float | None = None
    status: str = "ns"  # significant | equivalent | ns | untested | degenerate
    note: str = ""  # the numbers printed on the right
    title: str = ""  # hover text


class _Scale:
    def __init__(self, domain: tuple[float, float]) -> None:
        self.domain = domain

    def __call__(self, v: float) -> float:
        lo, hi = self.domain
        v = min(max(v, lo), hi)
        return LABEL_W + (v - lo) / (hi - lo) * PLOT_W


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 × 10^k) inside [lo, hi], at most ``most`` of them."""
    span = hi - lo
    if span <= 0:
        return [lo]
    base = 10 ** math.floor(math.log10(span / most))
    step = next(base * m for m in (1, 2, 5, 10) if span / (base * m) <= most)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _domain(items: list[Item], fixed: tuple[float, float] | None) -> tuple[float, float]:
    if fixed:
        return fixed
    values = [0.0] + [v for i in items for v in (i.estimate, i.low, i.high) if v is not None]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 0.05
    return lo - pad, hi + pad


def _frame(
    items: list[Item], kind: str, caption: str, body: list[str], x: _Scale, fmt: str = "{:+.3g}"
) -> str:
    height = TOP + ROW_H * len(items) + 24
    lo, hi = x.domain
    axis_y = TOP + ROW_H * len(items) + 4
    ticks = nice_ticks(lo, hi)
    tick_text = "".join(
        f'<text x="{x(t):.1f}" y="{axis_y + 14}" text-anchor="middle" class="tick">{fmt.format(t)}</text>'
        for t in ticks
    )
    return (
        f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(caption)}">'
        f"<title>{escape(caption)}</title>"
        f'<line x1="{LABEL_W}" x2="{LABEL_W + PLOT_W}" y1="{axis_y}" y2="{axis_y}" class="axis"/>'
        f"{tick_text}{''.join(body)}</svg>"
    )


def _row_text(i: int, item: Item) -> str:
    y = TOP + ROW_H * i + ROW_H / 2 + 4
    label = item.label if len(item.label) <= 48 else item.label[:47] + "…"
    return (
        f'<text x="{LABEL_W - 8}" y="{y:.1f}" text-anchor="end" class="label">{escape(label)}</text>'
        f'<text x="{LABEL_W + PLOT_W + 10}" y="{y:.1f}" class="num">{escape(item.note)}</text>'
    )


def forest(items: list[Item], caption: str, reference: float = 0.0) -> str:
    """Points with CI whiskers around a reference line (0 for a gap, 0.5 for a rate against chance)."""
    x = _Scale(_domain(items + [Item("", reference)], None))
    body = [
        f'<line x1="{x(reference):.1f}" x2="{x(reference):.1f}" y1="{TOP - 6}" '
        f'y2="{TOP + ROW_H * len(items)}" class="zero"/>'
    ]
    for i, item in enumerate(items):
        y = TOP + ROW_H * i + ROW_H / 2
        colour = COLOURS[item.status]
        whisker = (
            f'<line x1="{x(item.low):.1f}" x2="{x(item.high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="2"/>'
            if item.low is not None and item.high is not None
            else ""
        )
        fill = colour if item.status in ("significant", "equivalent") else "white"
        body.append(
            f'<g class="row {item.status}"><title>{escape(item.title or item.label)}</title>{whisker}'
            f'<circle cx="{x(item.estimate):.1f}" cy="{y:.1f}" r="4.5" fill="{fill}" stroke="{colour}" '
            f'stroke-width="2"/>{_row_text(i, item)}</g>'
        )
    return _frame(items, "forest", caption, body, x)


def bars(items: list[Item], caption: str, reference: float | None = None) -> str:
    """Levels as bars from 0 with CI whiskers, on [0, 1] (as percentages) when every value fits, else
    from 0 to the largest value (scores on 0–100, log-likelihood differences …); an optional reference
    line (chance)."""
    values = [v for i in items for v in (i.estimate, i.low, i.high, reference) if v is not None]
    top = max(values, default=1.0)
    ticks = nice_ticks(0.0, top * 1.25)
    x = _Scale((0.0, 1.0 if top <= 1 else ticks[-1] + (ticks[-1] < top) * (ticks[1] - ticks[0])))
    body = []
    if reference is not None:
        body.append(
            f'<line x1="{x(reference):.1f}" x2="{x(reference):.1f}" y1="{TOP - 6}" '
            f'y2="{TOP + ROW_H * len(items)}" class="zero"/>'
        )
    for i, item in enumerate(items):
        y = TOP + ROW_H * i + 4
        mid = y + (ROW_H - 8) / 2
        colour = COLOURS[item.status]
        whisker = (
            f'<line x1="{x(item.low):.1f}" x2="{x(item.high):.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
            f'stroke="#17202a" stroke-width="1.5"/>'
            if item.low is not None and item.high is not None
            else ""
        )
        body.append(
            f'<g class="row {item.status}"><title>{escape(item.title or item.label)}</title>'
            f'<rect x="{LABEL_W}" y="{y:.1f}" width="{x(item.estimate) - LABEL_W:.1f}" height="{ROW_H - 8}" '
            f'fill="{colour}" opacity="0.55"/>{whisker}{_row_text(i, item)}</g>'
        )
    return _frame(items, "bars", caption, body, x, "{:.0%}" if x.domain[1] == 1 else "{:g}")
