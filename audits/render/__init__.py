"""Renderers of a report dict: plain text (CLI), standalone HTML (inline SVG), PDF."""

from audits.render.html import render_html
from audits.render.pdf import render_pdf
from audits.render.text import render_text

__all__ = ["render_html", "render_pdf", "render_text"]
