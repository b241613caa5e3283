"""Labeling: pure Python (no Django). Importers, judges, prompts, routing, Argilla adapter."""
