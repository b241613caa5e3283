"""`manage.py simulate_annotators --project NAME [--json]`: recorded humans answer in Argilla."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tandem.core import review, services
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = (
        "For pairs in Argilla that came with recorded human labels (MT-Bench, LLMBar, PandaLM), "
        "submit those labels through Argilla as one simulated annotator per recorded human."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        project = _project(opts["project"], create=False)
        try:
            result = review.simulate_annotators(project, review.client(), settings.ARGILLA_API_KEY)
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        self.stdout.write(
            json.dumps(result)
            if opts["json"]
            else f"{result['dataset']}: {result['submitted']} responses submitted by "
            f"{result['annotators']} simulated annotators; run sync_argilla to pull them"
        )
