"""`manage.py export --project NAME [--policy FILE] --format hf|jsonl|parquet|csv --out DIR [--dry-run]`."""

import json

from django.core.management.base import BaseCommand, CommandError

from tandem.core import datasets, services
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = "Blend human and AI labels into an immutable dataset version and write it in TRL's format."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--policy", help="a JSON or TOML blend policy (default: the built-in one)")
        parser.add_argument(
            "--format",
            action="append",
            choices=["hf", "jsonl", "parquet", "csv"],
            help="repeatable; default jsonl",
        )
        parser.add_argument("--out", help="output folder (default var/datasets/<project>)")
        parser.add_argument(
            "--judge", help="the judge whose verdicts are blended (default: the routing judge)"
        )
        parser.add_argument("--dry-run", action="store_true", help="print what the policy would produce")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        from django.conf import settings

        project = _project(opts["project"], create=False)
        formats = opts["format"] or ["jsonl"]
        if "jsonl" not in formats:
            formats = ["jsonl", *formats]  # training reads the JSONL
        out = opts["out"] or str(settings.VAR_DIR / "datasets" / project.name)
        try:
            if opts["dry_run"]:
                summary = datasets.preview(project, opts["policy"], opts["judge"])
                result = {"dry_run": True, "summary": summary}
            else:
                result = datasets.export_dataset(project, opts["policy"], formats, out, judge=opts["judge"])
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        if opts["json"]:
            self.stdout.write(json.dumps(result, default=str))
        elif opts["dry_run"]:
            self.stdout.write(result["summary"]["text"])
        else:
            by_source = ", ".join(f"{k} {v}" for k, v in sorted(result["summary"]["by_source"].items()))
            self.stdout.write(
                f"dataset {result['version'][:12]}: {result['rows']} rows ({by_source}); "
                f"files: {', '.join(result['files'].values())}"
            )
