"""`manage.py sync_argilla --project NAME [--min-submitted N] [--json]`."""

import json

from django.core.management.base import BaseCommand, CommandError

from tandem.core import review, services
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = "Push the pairs routed to humans to Argilla and pull the annotators' labels back."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--min-submitted",
            type=int,
            default=1,
            help="annotators per record (2+ measures human-human agreement)",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        project = _project(opts["project"], create=False)
        try:
            result = review.sync(project, review.client(), min_submitted=opts["min_submitted"])
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"{result['dataset']}: pushed {result['pushed']}, pulled {result['pulled']} responses: "
                f"{result['labels_created']} labels created, {result['labels_updated']} updated, "
                f"{result['labels_removed']} removed"
            )
