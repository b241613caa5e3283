"""Chart.js configurations built from the pages' figures. The browser side is one generic
loop (static/web/charts.js) that hands each config to Chart.js: what a chart shows is decided
here, next to the view that computed the figures."""

from __future__ import annotations

PALETTE = ["#2f6fdf", "#d9480f", "#2b8a3e", "#7048e8", "#c2255c", "#0b7285", "#e67700"]


def _axis(title: str, **extra) -> dict:
    return {"title": {"display": True, "text": title}, **extra}


def _options(x: str, y: str, *, y_range: tuple[float, float] | None = None, x_type: str = "linear") -> dict:
    y_axis = _axis(y) | ({"min": y_range[0], "max": y_range[1]} if y_range else {})
    return {
        "responsive": True,
        "maintainAspectRatio": False,
        "animation": False,
        "scales": {"x": _axis(x, type=x_type), "y": y_axis},
        "plugins": {"legend": {"position": "bottom"}},
    }


def lines(series: list[dict], x: str, y: str, *, y_range=None) -> dict:
    """`series`: [{"label", "data": [{"x", "y"}, ...]}] drawn as lines over a numeric x."""
    datasets = [
        {
            "label": s["label"],
            "data": s["data"],
            "borderColor": PALETTE[i % 7],
            "backgroundColor": PALETTE[i % 7],
            "pointRadius": 2,
            "tension": 0.1,
        }
        for i, s in enumerate(series)
    ]
    return {"type": "line", "data": {"datasets": datasets}, "options": _options(x, y, y_range=y_range)}


def categories(labels: list[str], series: list[dict], x: str, y: str, *, y_range=None) -> dict:
    """`series`: [{"label", "values": [...]}], one value per label (None: a gap)."""
    datasets = [
        {
            "label": s["label"],
            "data": s["values"],
            "borderColor": PALETTE[i % 7],
            "backgroundColor": PALETTE[i % 7],
            "spanGaps": True,
            "pointRadius": 3,
        }
        for i, s in enumerate(series)
    ]
    options = _options(x, y, y_range=y_range, x_type="category")
    return {"type": "line", "data": {"labels": labels, "datasets": datasets}, "options": options}


def bars(counts: dict, x: str, y: str) -> dict:
    data = {
        "labels": list(counts),
        "datasets": [{"label": y, "data": list(counts.values()), "backgroundColor": PALETTE[0]}],
    }
    options = _options(x, y, x_type="category") | {"plugins": {"legend": {"display": False}}}
    return {"type": "bar", "data": data, "options": options}


def points(series: list[dict], x: str, y: str) -> dict:
    """`series`: [{"label", "data": [{"x", "y", "name"}]}] as a scatter plot; hovering a point
    shows its name (the policy it stands for)."""
    datasets = [
        {
            "label": s["label"],
            "data": s["data"],
            "borderColor": PALETTE[i % 7],
            "backgroundColor": PALETTE[i % 7],
            "pointRadius": 5,
            "showLine": s.get("line", False),
        }
        for i, s in enumerate(series)
    ]
    return {"type": "scatter", "data": {"datasets": datasets}, "options": _options(x, y)}
