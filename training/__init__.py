"""Training: pure Python (no Django); the only package that imports torch, trl and peft.

Blend, export, reward models, DPO and PPO-family policies. Imported by the platform only inside
jobs and management commands, never at start-up. Entry points:

- `training.blend`: PairVotes, BlendPolicy.load(path), blend(pairs, policy, calibration) -> rows + summary
- `training.export`: export(rows, out_dir, formats) -> ExportResult (version = content hash)
- `training.config`: load_config(method, path) -> a config dataclass per method
- `training.runner`: train(config, rows, output_dir, on_metrics=, should_cancel=, reward_fn=, eval_rows=)
- `training.evaluate`: reward_model_accuracy, win_rate / policy_win_rate, harmless_rate

blend, export, config, loading and errors import neither torch nor trl.
"""
