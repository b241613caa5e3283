"""Training: pure Python (no Django); the only package that imports torch, trl and peft.

Blend, export, reward models, DPO and PPO-family policies. Imported by the platform only inside
jobs and management commands, never at start-up.
"""
