"""`manage.py audit --project NAME [--judge NAME] [--format text|json|html|pdf] [--out FILE]`."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tandem.core import audits, services
from tandem.core.models import Project


class Command(BaseCommand):
    help = "Audit a judge against human labels: agreement, biases, calibration (the report is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--judge", help="one judge (default: every judge, pooled)")
        parser.add_argument("--format", default="text", choices=["text", "json", "html", "pdf"])
        parser.add_argument("--out", help="write to this file instead of the screen")

    def handle(self, *args, **opts):
        try:
            project = Project.objects.get(name=opts["project"])
        except Project.DoesNotExist:
            raise CommandError(f"no project '{opts['project']}'") from None
        if opts["format"] == "pdf" and not opts["out"]:
            raise CommandError("PDF output needs --out FILE")
        try:
            report = audits.create_report(project, judge=opts["judge"])
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        rendered = audits.render(report, opts["format"])
        if opts["format"] == "json":
            rendered = json.dumps(rendered, indent=2, default=str)
        if opts["out"]:
            mode = "wb" if isinstance(rendered, bytes) else "w"
            with Path(opts["out"]).open(mode) as fh:
                fh.write(rendered)
            self.stderr.write(f"audit written to {opts['out']}")
        else:
            self.stdout.write(rendered)
