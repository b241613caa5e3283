"""`manage.py sync_argilla --project NAME [--annotator USER ...] [--min-submitted N] [--json]`."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tandem.core import review, roles, services
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = (
        "Give the project's Argilla workspace its annotators, push the pairs routed to humans "
        "(the round of the routing policy version used) and pull the annotators' labels back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--annotator",
            action="append",
            default=[],
            metavar="USERNAME",
            help="make this Argilla user an annotator of the project first (repeatable); a Tandem "
            "user of that name is created without a password if there is none",
        )
        parser.add_argument(
            "--min-submitted",
            type=int,
            default=1,
            help="annotators per record (2+ measures human-human agreement)",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        project = _project(opts["project"], create=False)
        for username in opts["annotator"]:
            user, created = get_user_model().objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            roles.add_member(user, project, "annotator")
        try:
            result = review.sync(project, review.client(), min_submitted=opts["min_submitted"])
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        if opts["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(summary(result))


def summary(result: dict) -> str:
    """The sync's outcome in words: what was pushed (or why nothing was), pulled and stored."""
    if result["dataset"] is None:
        return f"nothing to sync: {result['note']}"
    pushed = f"pushed {result['pushed']}" if result["pushed"] else f"pushed nothing ({result['note']})"
    lines = [
        f"{result['dataset']} in workspace {result['workspace']}: {pushed}; pulled {result['pulled']} "
        f"responses: {result['labels_created']} labels created, {result['labels_updated']} updated, "
        f"{result['labels_removed']} removed",
        f"annotators: {', '.join(result['annotators']['assigned']) or 'none (add some with --annotator)'}",
    ]
    if result["missing_annotators"]:
        lines.append(
            "not in Argilla (create these users there, then sync again): "
            + ", ".join(result["missing_annotators"])
        )
    if result["unknown_records"]:
        lines.append(
            f"{result['unknown_records']} records match no pair: was SECRET_KEY changed without keeping "
            "the old one in SECRET_KEY_FALLBACKS?"
        )
    return "\n".join(lines)
