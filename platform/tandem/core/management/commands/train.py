"""`manage.py train --project NAME --dataset VERSION --method reward|dpo|ppo|rloo|grpo --config FILE`."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tandem.core import datasets, judging, policy_eval, services, training
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = "Train a reward model or a policy on a dataset version; the TrainingRun records it all."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--dataset", required=True, help="a dataset version (a prefix of its hash)")
        parser.add_argument("--method", required=True, choices=["reward", "dpo", "ppo", "rloo", "grpo"])
        parser.add_argument("--config", required=True, help="a JSON or TOML training config")
        parser.add_argument("--out", help="output folder (default var/runs/...)")
        parser.add_argument(
            "--reward-judge",
            help="online methods: a scoring judge (d-RLAIF) as the reward, "
            "e.g. smollm2-score, instead of the config's reward_model",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        project = _project(opts["project"], create=False)
        bar = tqdm(unit="steps", desc=opts["method"], disable=True if opts["json"] else None, file=sys.stderr)

        def progress(step, total):
            bar.total = total
            bar.update(step - bar.n)

        try:
            version = datasets.find_version(project, opts["dataset"])
            reward_fn = judging.score_reward(project, opts["reward_judge"]) if opts["reward_judge"] else None
            run = training.train_run(
                project,
                version,
                opts["method"],
                opts["config"],
                output_dir=opts["out"],
                reward_fn=reward_fn,
                progress=progress,
                trusted=True,  # the operator's shell: any model path, any TRL argument
            )
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        finally:
            bar.close()
        summary = {
            "run": run.pk,
            "status": run.status,
            "method": run.method,
            "steps": len(run.metrics),
            "final_eval": run.final_eval,
            "artifacts": run.artifacts,
            "error": run.error,
        }
        if opts["json"]:
            self.stdout.write(json.dumps(summary, default=str))
        else:
            evaluation = {k: v for k, v in run.final_eval.items() if k != "policy_eval"}
            self.stdout.write(
                f"training run {run.pk} {run.status}: {len(run.metrics)} logged steps; "
                f"eval {evaluation}; artifacts {run.artifacts}"
                + (f"; error: {run.error}" if run.error else "")
            )
            if "policy_eval" in run.final_eval:
                self.stdout.write(policy_eval.summary_line(run.final_eval["policy_eval"]))
        if run.status != "succeeded":
            raise CommandError(f"training run {run.pk} {run.status}: {run.error}", returncode=1)
