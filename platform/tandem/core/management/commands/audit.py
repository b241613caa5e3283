"""`manage.py audit --project NAME [--judge NAME] [--format text|json|html|pdf] [--out FILE]`."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tandem.core import selectors
from tandem.core.models import AuditReport, Judgment, Project


class Command(BaseCommand):
    help = "Audit a judge against human labels: agreement, biases, calibration."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--judge", help="one judge (default: every judge, pooled)")
        parser.add_argument("--format", default="text", choices=["text", "json", "html", "pdf"])
        parser.add_argument("--out", help="write to this file instead of the screen")

    def handle(self, *args, **opts):
        import audits

        try:
            project = Project.objects.get(name=opts["project"])
        except Project.DoesNotExist:
            raise CommandError(f"no project '{opts['project']}'") from None
        judges = set(
            Judgment.objects.filter(pair__project=project).values_list("judge", flat=True).distinct()
        )
        if not judges:
            raise CommandError(f"project '{project.name}' has no judgments yet: run `manage.py judge` first")
        if opts["judge"] and opts["judge"] not in judges:
            raise CommandError(
                f"judge '{opts['judge']}' has no judgments here; judges: {', '.join(sorted(judges))}"
            )
        try:
            judgments, labels = selectors.audit_frames(project, opts["judge"])
            report = audits.build_report(judgments, labels, judge=opts["judge"])
        except audits.AuditInputError as err:
            raise CommandError(str(err)) from err
        report["project"] = project.name
        report = json.loads(json.dumps(report, default=str))
        AuditReport.objects.create(
            project=project,
            judge=opts["judge"] or "",
            report=report,
            calibration=(report.get("calibration") or {}).get("map"),
        )
        rendered = {
            "text": audits.render_text,
            "html": audits.render_html,
            "pdf": audits.render_pdf,
            "json": lambda r: json.dumps(r, indent=2, default=str),
        }[opts["format"]](report)
        if opts["out"]:
            mode = "wb" if isinstance(rendered, bytes) else "w"
            with Path(opts["out"]).open(mode) as fh:
                fh.write(rendered)
            self.stderr.write(f"audit written to {opts['out']}")
        elif isinstance(rendered, bytes):
            raise CommandError("PDF output needs --out FILE")
        else:
            self.stdout.write(rendered)
