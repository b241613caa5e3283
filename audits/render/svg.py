"""Hand-written inline SVG charts, so the HTML report needs no plotting library or assets.

Two shapes cover the report: a line chart (reliability curve, length-difference curve,
trend over time) and a dot-with-interval chart (agreement by slice).
"""

from __future__ import annotations

from html import escape

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
W, H, LEFT, RIGHT, TOP, BOTTOM = 520, 300, 56, 16, 32, 44


def _scale(value, lo, hi, a, b):
    return a + (b - a) * ((value - lo) / (hi - lo) if hi > lo else 0.5)


def _frame(title: str, x_label: str, y_label: str, body: list[str], ticks: list[str]) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">',
        f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
        'fill="none" stroke="#999"/>',
        f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="14" y="{H / 2}" text-anchor="middle" transform="rotate(-90 14 {H / 2})">'
        f"{escape(y_label)}</text>",
    ]
    return "\n".join(parts + ticks + body + ["</svg>"])


def _y_ticks(lo: float, hi: float) -> list[str]:
    out = []
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        y = _scale(v, lo, hi, H - BOTTOM, TOP)
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{v:.2f}</text>')
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
    return out


def line_chart(
    title, series, x_label, y_label, x_range=None, y_range=(0.0, 1.0), diagonal=False, x_ticks=None
) -> str:
    """Lines with points. `series`: [(name, [(x, y), ...])]; `x_ticks`: [(x, label)] or None.

    Returns an <svg> string; with no points it draws the frame and says "no data".
    """
    xs = [x for _, pts in series for x, _ in pts]
    if not xs:
        return _frame(
            title,
            x_label,
            y_label,
            [f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data</text>'],
            [],
        )
    x_lo, x_hi = x_range or (min(xs), max(xs))
    y_lo, y_hi = y_range

    def point(x, y):
        return (_scale(x, x_lo, x_hi, LEFT + 8, W - RIGHT - 8), _scale(y, y_lo, y_hi, H - BOTTOM, TOP))

    body = []
    if diagonal:
        (x1, y1), (x2, y2) = point(x_lo, y_lo), point(x_hi, y_hi)
        body.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            'stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    for k, (name, pts) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        coords = [point(x, y) for x, y in pts if y is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        body.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in coords)
        body.append(f'<text x="{LEFT + 8}" y="{TOP + 14 + 14 * k}" fill="{color}">{escape(name)}</text>')
    ticks = _y_ticks(y_lo, y_hi)
    for x, label in x_ticks or [(x_lo, f"{x_lo:.2g}"), (x_hi, f"{x_hi:.2g}")]:
        px, _ = point(x, y_lo)
        ticks.append(
            f'<text x="{px:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">{escape(str(label))}</text>'
        )
    return _frame(title, x_label, y_label, body, ticks)


def interval_chart(title: str, rows: list[tuple], x_label: str = "agreement") -> str:
    """Horizontal dots with 95% whiskers on [0, 1]. `rows`: [(label, value, ci or None, n)]."""
    rows = [r for r in rows if r[1] is not None][:20]
    height = TOP + BOTTOM + 18 * max(len(rows), 1)
    left = 190
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W + 100}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="{(W + 100) / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    if not rows:
        out.append(f'<text x="{left}" y="{TOP + 14}">no slice has a value</text>')
    for i in range(5):
        x = _scale(i / 4, 0, 1, left, W + 80)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{height - BOTTOM}" '
            f'stroke="#eee"/><text x="{x:.1f}" y="{height - BOTTOM + 14}" '
            f'text-anchor="middle">{i / 4:.2f}</text>'
        )
    for i, (label, value, ci, n) in enumerate(rows):
        y = TOP + 12 + 18 * i
        out.append(
            f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{escape(str(label)[:28])} (n={n})</text>'
        )
        if ci:
            x1, x2 = (_scale(v, 0, 1, left, W + 80) for v in ci)
            out.append(f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y}" y2="{y}" stroke="#555"/>')
        cx = _scale(value, 0, 1, left, W + 80)
        out.append(f'<circle cx="{cx:.1f}" cy="{y}" r="4" fill="{COLORS[0]}"/>')
    out.append(
        f'<text x="{(W + 100) / 2}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text></svg>'
    )
    return "\n".join(out)
