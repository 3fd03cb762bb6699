"""Charts as inline SVG, drawn at build time.

Static SVG needs no chart library (nothing to vendor, nothing to load from a
CDN), shows without JavaScript and from ``file://``, and follows the light or
dark theme because its colours are CSS classes (``docs/assets/slmb/site.css``).
Each point is a link to its model page with a ``<title>`` tooltip; every text
goes through :func:`evals.site.text.html`/:func:`attr`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evals.site.text import attr, html

WIDTH, HEIGHT = 760, 420
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 20, 56


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # tooltip text (escaped when drawn)
    href: str | None
    group: int  # colour class c0..c5


@dataclass(frozen=True)
class Axis:
    label: str
    low: float
    high: float
    log: bool = False
    tick_label: Callable[[float], str] = lambda v: f"{v:g}"

    def scale(self, value: float, start: float, end: float) -> float:
        if self.log:
            lo, hi, v = math.log10(self.low), math.log10(self.high), math.log10(value)
        else:
            lo, hi, v = self.low, self.high, value
        return start + (v - lo) / ((hi - lo) or 1.0) * (end - start)

    def ticks(self) -> list[float]:
        if self.log:
            first, last = math.floor(math.log10(self.low)), math.ceil(math.log10(self.high))
            return [10.0**e for e in range(first, last + 1) if self.low <= 10.0**e <= self.high]
        step = _nice_step((self.high - self.low) / 5)
        start = math.ceil(self.low / step) * step
        return [start + i * step for i in range(int((self.high - start) / step + 1e-9) + 1)]


def log_axis(label: str, values: Sequence[float], tick_label: Callable[[float], str]) -> Axis:
    """A log axis over whole decades that holds every value."""
    low = 10.0 ** math.floor(math.log10(min(values)))
    high = 10.0 ** math.ceil(math.log10(max(values)))
    if high <= low:
        high = low * 10
    return Axis(label, low, high, log=True, tick_label=tick_label)


def linear_axis(
    label: str, values: Sequence[float], floor: float | None = None, ceiling: float | None = None, pad: float = 5.0
) -> Axis:
    low = min(values) - pad if floor is None else min(floor, min(values) - pad)
    high = max(values) + pad if ceiling is None else max(ceiling, max(values) + pad)
    step = _nice_step((high - low) / 5)
    return Axis(label, math.floor(low / step) * step, math.ceil(high / step) * step)


def scatter(
    points: Sequence[Point], x: Axis, y: Axis, title: str, legend: Sequence[str], front: Sequence[int] = ()
) -> str:
    """A scatter plot; ``front`` (point indices, any order) is drawn as a step line and ringed points."""
    px = [x.scale(p.x, LEFT, WIDTH - RIGHT) for p in points]
    py = [y.scale(p.y, HEIGHT - BOTTOM, TOP) for p in points]
    parts = [_frame(x, y, title)]
    if front:
        # The edge of what the front dominates: down from each point, then across to the next
        # (left to right, accuracy only falls as throughput rises along the front).
        ordered = sorted(front, key=lambda i: px[i])
        steps = [f"{px[ordered[0]]:.1f},{py[ordered[0]]:.1f}"]
        for before, i in zip(ordered, ordered[1:], strict=False):
            steps += [f"{px[before]:.1f},{py[i]:.1f}", f"{px[i]:.1f},{py[i]:.1f}"]
        parts.append(f'<polyline class="slmb-front" points="{" ".join(steps)}"/>')
    on_front = set(front)
    for i, p in enumerate(points):
        ring = " front" if i in on_front else ""
        circle = (
            f'<circle class="slmb-pt c{p.group % 6}{ring}" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{5 if ring else 3.5}">'
            f"<title>{html(p.label)}</title></circle>"
        )
        parts.append(f'<a href="{attr(p.href)}">{circle}</a>' if p.href else circle)
    parts.append(_legend(legend, extra="Pareto front" if front else None))
    return _svg(title, "".join(parts))


@dataclass(frozen=True)
class DotRow:
    label: str
    href: str | None
    dots: Sequence[tuple[float, int, str]]  # (value, colour group, tooltip)


def dot_plot(rows: Sequence[DotRow], x: Axis, title: str, legend: Sequence[str], reference: float | None = None) -> str:
    """One row per item, its values as coloured dots; ``reference`` draws a vertical line."""
    label_w, row_h = 220, 24
    height = TOP + row_h * len(rows) + BOTTOM
    left, right = label_w, WIDTH - RIGHT
    parts = [f'<g class="slmb-axis"><line x1="{left}" y1="{height - BOTTOM}" x2="{right}" y2="{height - BOTTOM}"/>']
    parts += _x_ticks(x, left, right, height - BOTTOM)
    parts.append(
        f'<text class="slmb-label" x="{(left + right) / 2:.1f}" y="{height - 14}" text-anchor="middle">{html(x.label)}</text></g>'
    )
    if reference is not None:
        rx = x.scale(reference, left, right)
        parts.append(f'<line class="slmb-ref" x1="{rx:.1f}" y1="{TOP}" x2="{rx:.1f}" y2="{height - BOTTOM}"/>')
    for i, row in enumerate(rows):
        cy = TOP + row_h * i + row_h / 2
        short = row.label if len(row.label) <= 30 else row.label[:29] + "…"
        text = f'<text x="{left - 8}" y="{cy + 4:.1f}" text-anchor="end"><title>{html(row.label)}</title>{html(short)}</text>'
        parts.append(f'<a href="{attr(row.href)}">{text}</a>' if row.href else text)
        for value, group, tip in row.dots:
            cx = x.scale(min(max(value, x.low), x.high), left, right)
            parts.append(
                f'<circle class="slmb-pt c{group % 6}" cx="{cx:.1f}" cy="{cy:.1f}" r="5"><title>{html(tip)}</title></circle>'
            )
    parts.append(_legend(legend))
    return _svg(title, "".join(parts), height)


def _frame(x: Axis, y: Axis, title: str) -> str:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [
        f'<g class="slmb-axis"><line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>'
    ]
    parts += _x_ticks(x, LEFT, right, bottom)
    for tick in y.ticks():
        ty = y.scale(tick, bottom, TOP)
        parts.append(
            f'<line class="slmb-grid" x1="{LEFT}" y1="{ty:.1f}" x2="{right}" y2="{ty:.1f}"/>'
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{html(y.tick_label(tick))}</text>'
        )
    parts.append(
        f'<text class="slmb-label" x="{(LEFT + right) / 2:.1f}" y="{HEIGHT - 14}" text-anchor="middle">{html(x.label)}</text>'
        f'<text class="slmb-label" transform="translate(16 {(TOP + bottom) / 2:.1f}) rotate(-90)" text-anchor="middle">'
        f"{html(y.label)}</text></g>"
    )
    return "".join(parts)


def _x_ticks(x: Axis, left: float, right: float, bottom: float) -> list[str]:
    """A vertical grid line and a label at each tick of the x axis."""
    parts = []
    for tick in x.ticks():
        tx = x.scale(tick, left, right)
        parts.append(
            f'<line class="slmb-grid" x1="{tx:.1f}" y1="{TOP}" x2="{tx:.1f}" y2="{bottom}"/>'
            f'<text x="{tx:.1f}" y="{bottom + 16}" text-anchor="middle">{html(x.tick_label(tick))}</text>'
        )
    return parts


def _legend(names: Sequence[str], extra: str | None = None) -> str:
    parts, x = ['<g class="slmb-legend">'], LEFT + 8
    for i, name in enumerate(names):
        parts.append(
            f'<circle class="slmb-pt c{i % 6}" cx="{x}" cy="8" r="4"/><text x="{x + 8}" y="12">{html(name)}</text>'
        )
        x += 16 + 7 * len(name)
    if extra:
        parts.append(
            f'<circle class="slmb-pt front" cx="{x}" cy="8" r="5"/><text x="{x + 9}" y="12">{html(extra)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _svg(title: str, body: str, height: int = HEIGHT) -> str:
    # One line, no blank lines: Markdown passes a raw HTML block through only while it is unbroken.
    return (
        f'<figure class="slmb-chart"><svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{attr(title)}">'
        f"<title>{html(title)}</title>{body}</svg></figure>"
    )


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude
