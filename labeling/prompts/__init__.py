"""Versioned prompt templates for the judges (files here; released versions never change)."""

from labeling.prompts.templates import (
    DEFAULT_RUBRIC,
    Template,
    TemplateError,
    fence,
    fill,
    load_template,
    load_template_text,
    released_hashes,
    template_names,
)

__all__ = [
    "DEFAULT_RUBRIC",
    "Template",
    "TemplateError",
    "fence",
    "fill",
    "load_template",
    "load_template_text",
    "released_hashes",
    "template_names",
]
