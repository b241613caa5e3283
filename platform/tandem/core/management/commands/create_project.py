"""`manage.py create_project NAME [--description TEXT] [--rubric-file FILE]`."""

from pathlib import Path

from django.core.management.base import BaseCommand

from tandem.core import services


class Command(BaseCommand):
    help = "Create a project (does nothing if it exists)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--description", default="")
        parser.add_argument("--rubric-file", help="a text file with the rubric or constitution")

    def handle(self, *args, **opts):
        rubric = Path(opts["rubric_file"]).read_text() if opts["rubric_file"] else ""
        project = services.create_project(opts["name"], description=opts["description"], rubric=rubric)
        self.stdout.write(f"project '{project.name}' (id {project.pk})")
