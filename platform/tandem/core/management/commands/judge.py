"""`manage.py judge --project NAME [--judge CONFIG] [--limit N] [--escalated] [--json]`."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tandem.core import judging, services
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = "Judge every pair of a project in both orders (resumable; nothing is paid for twice)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--judge",
            default="smollm2",
            help="a built-in (smollm2), a judge of the project, or a .json config file",
        )
        parser.add_argument("--limit", type=int, help="judge only the first N pairs")
        parser.add_argument(
            "--escalated",
            action="store_true",
            help="guarantee mode: judge only the pairs the cascade's earlier judges did not keep "
            "(those `route` left waiting for this judge) and the blind audit pairs",
        )
        parser.add_argument(
            "--batch-pairs",
            type=int,
            default=None,
            help="pairs per stored batch (default: 4x the concurrency)",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        project = _project(opts["project"], create=False)
        bar = tqdm(unit="verdicts", desc="judge", disable=True if opts["json"] else None, file=sys.stderr)

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        try:
            config = judging.resolve_config(project, opts["judge"], allow_files=True)
            summary = judging.judge_pairs(
                project,
                config,
                limit=opts["limit"],
                batch_pairs=opts["batch_pairs"],
                progress=progress,
                escalated=opts["escalated"],
            )
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        finally:
            bar.close()
        self.stdout.write(json.dumps(summary.as_dict()) if opts["json"] else summary.line())
