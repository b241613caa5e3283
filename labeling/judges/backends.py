"""Importing this module registers the built-in backends (hf imports torch only when used)."""

from labeling.judges import ensemble, hf_judge, openai_judge, replay

__all__ = ["ensemble", "hf_judge", "openai_judge", "replay"]
