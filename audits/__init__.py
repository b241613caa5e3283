"""Audits: pure Python (no Django). Agreement, bias, calibration and report rendering.

The platform's whole API is re-exported here: build the two frames described in
`audits.frames` (`categorical_frames` turns them into the cheapest form), call
`build_report`, and render the dict with `render_text`, `render_html` or `render_pdf`. The
blend step re-applies a fitted calibration map with
`apply_calibration(report["calibration"]["map"], p)`.
"""

from audits.calibration import CalibrationMap, apply_calibration, fit_calibration
from audits.columns import concat_chunks, take_rows
from audits.config import AuditConfig
from audits.frames import AuditInputError, categorical_frames, formatting_flags
from audits.render import render_html, render_pdf, render_text
from audits.render.pdf import PdfUnavailableError
from audits.report import REQUIRED_KEYS, build_report, flatten, get_path

__all__ = [
    "REQUIRED_KEYS",
    "AuditConfig",
    "AuditInputError",
    "CalibrationMap",
    "PdfUnavailableError",
    "apply_calibration",
    "build_report",
    "categorical_frames",
    "concat_chunks",
    "fit_calibration",
    "flatten",
    "formatting_flags",
    "get_path",
    "render_html",
    "render_pdf",
    "render_text",
    "take_rows",
]
