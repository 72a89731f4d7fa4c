"""Trend lines as inline SVG: a headline figure's sparkline without a chart library in the page."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

RISE_BAD, RISE_GOOD, FLAT = "#c62828", "#2e7d32", "#78909c"
WIDTH, HEIGHT = 200, 40


def color(delta: str | None, inverse: bool) -> str:
    """The trend's colour from the figure's change, as ``st.metric`` colours its delta: a rise is
    red when ``inverse`` (a rise is bad), green otherwise; no change or none is grey."""
    text = (delta or "").strip()
    if not text or text.lstrip("+-").strip() in ("0", "0.0", "0 s", "0ms", "0 ms"):
        return FLAT
    fell = text.startswith(("-", "−"))
    return (RISE_GOOD if fell else RISE_BAD) if inverse else (RISE_BAD if fell else RISE_GOOD)


def svg(values: Sequence[float], stroke: str = FLAT, label: str = "trend") -> str:
    """An SVG sparkline (a line over a light area) of ``values`` in their order; empty for fewer
    than two values. It stretches to the width of its container."""
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = WIDTH / (len(values) - 1)
    points = [(i * step, HEIGHT - 2 - (v - lo) / span * (HEIGHT - 4)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    area = f"0,{HEIGHT} {line} {WIDTH},{HEIGHT}"
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" height="{HEIGHT}" preserveAspectRatio="none" '
        f'role="img" aria-label="{escape(label)}" data-testid="sparkline">'
        f'<polygon points="{area}" fill="{stroke}" fill-opacity="0.12"/>'
        f'<polyline points="{line}" fill="none" stroke="{stroke}" stroke-width="1.5" '
        'vector-effect="non-scaling-stroke"/></svg>'
    )
