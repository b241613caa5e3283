"""`manage.py import_pairs --project NAME FILE [--format F] [--skip-invalid] [--json]`."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.importers import FORMATS
from tandem.core import services
from tandem.core.models import Project


class Command(BaseCommand):
    help = "Import response pairs (and any human labels or recorded verdicts they carry)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a file, or a data set's folder for llmbar / pandalm")
        parser.add_argument("--project", required=True)
        parser.add_argument("--format", default="pairs", choices=sorted(FORMATS))
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="keep the good rows and write a report of the bad ones",
        )
        parser.add_argument("--report", help="where --skip-invalid writes bad rows (JSONL)")
        parser.add_argument(
            "--create-project", action="store_true", help="create the project if it does not exist"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **opts):
        project = _project(opts["project"], opts["create_project"])
        bar = tqdm(unit="rows", desc="import", disable=True if opts["json"] else None, file=sys.stderr)

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            summary = services.import_pairs(
                project,
                opts["file"],
                opts["format"],
                skip_invalid=opts["skip_invalid"],
                progress=progress,
            )
        except services.ImportFailed as err:
            bar.close()
            self._print(err.summary, opts)
            raise CommandError(err.message, returncode=1) from err
        bar.close()
        if summary.errors and opts["skip_invalid"]:
            report = Path(opts["report"] or f"{Path(opts['file']).name}.invalid.jsonl")
            report.write_text("".join(json.dumps(e) + "\n" for e in summary.errors))
            self.stderr.write(f"{summary.invalid} invalid rows skipped; report: {report}")
        self._print(summary, opts)

    def _print(self, summary, opts):
        if opts["json"]:
            self.stdout.write(json.dumps(summary.as_dict()))
            return
        self.stdout.write(summary.line())
        for error in summary.errors[:20]:
            self.stderr.write(f"  {error['file']}:{error['line']} {error['field']}: {error['message']}")
        if len(summary.errors) > 20:
            self.stderr.write(f"  ... and {summary.invalid - 20} more (use --json for all)")


def _project(name: str, create: bool) -> Project:
    try:
        return Project.objects.get(name=name)
    except Project.DoesNotExist:
        if create:
            return services.create_project(name)
        raise CommandError(
            f"no project '{name}'; create it with `manage.py create_project {name}` or add --create-project"
        ) from None
