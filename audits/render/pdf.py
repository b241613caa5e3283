"""PDF report through matplotlib's PdfPages (pure Python route; matplotlib is optional).

Page 1 is the text summary; page 2 holds the same four plots as the HTML page's first ones.
matplotlib is imported only here, so the rest of the package works without it.
"""

from __future__ import annotations

import io

from audits.render import figures
from audits.render.text import render_text


class PdfUnavailableError(RuntimeError):
    """matplotlib is not installed; the message says how to install it."""

    code = "pdf_unavailable"


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as exc:
        raise PdfUnavailableError(
            "PDF output needs matplotlib: pip install 'matplotlib>=3.8,<4' (or use --format html)"
        ) from exc
    return pyplot


def _draw_lines(ax, series, title, x_label, diagonal=False):
    for name, points in series:
        points = [(x, y) for x, y in points if y is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=name)
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle="--", color="#bbb")
    ax.set(title=title, xlabel=x_label, ylim=(0, 1))
    if any(not line.get_label().startswith("_") for line in ax.lines):
        ax.legend(fontsize=7)


def _draw_intervals(ax, rows, title):
    rows = [r for r in rows if r[1] is not None][:15]
    for i, (_, value, ci, _) in enumerate(rows):
        if ci:
            ax.plot(ci, [i, i], color="#555")
        ax.plot([value], [i], "o", color="#1f77b4")
    ax.set_yticks(range(len(rows)), [f"{r[0][:20]} (n={r[3]})" for r in rows], fontsize=7)
    ax.set(title=title, xlim=(0, 1))


def render_pdf(report: dict) -> bytes:
    """The report as PDF bytes; raises PdfUnavailableError when matplotlib is missing."""
    plt = _pyplot()
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        page = plt.figure(figsize=(8.27, 11.69))
        summary = render_text(report).split("\nBy ")[0]
        page.text(0.03, 0.98, summary, family="monospace", fontsize=6.5, va="top")
        pdf.savefig(page)
        plt.close(page)
        fig, axes = plt.subplots(2, 2, figsize=(11.69, 8.27))
        _draw_lines(
            axes[0][0], figures.reliability_series(report), "Reliability", "judge P(a better)", diagonal=True
        )
        _draw_lines(
            axes[0][1],
            figures.length_series(report),
            "Length difference vs verdict",
            "log2 length ratio (a / b)",
        )
        trend, _ = figures.trend_series(report)
        _draw_lines(axes[1][0], trend, "Trend over time", "period")
        _draw_intervals(axes[1][1], figures.slice_intervals(report, "category"), "Agreement by category")
        fig.tight_layout()
        pdf.savefig(fig)
        plt.close(fig)
    return buffer.getvalue()
