"""`manage.py create_user NAME --role ROLE [--project P ...] [--password P]`.

The user's roles become exactly what the command says (old memberships and groups are
removed), and the user gets a new API token, every old one revoked: re-running the command is
how a role is taken away and how a leaked token is replaced.
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from knox.models import AuthToken

from tandem.core.models import Project
from tandem.core.roles import PROJECT_ROLES, ROLES, set_roles


class Command(BaseCommand):
    help = (
        "Create (or reset) a user: their only role (per project, or admin), a password and a new API "
        "token (old tokens revoked); prints the credentials."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument(
            "--project",
            action="append",
            default=[],
            metavar="NAME",
            help="a project the role applies to (repeat for several); engineer without one: may only "
            "create projects; admin: none (admins see every project)",
        )
        parser.add_argument("--password", help="default: a new random password")

    def handle(self, *args, **opts):
        role, names = opts["role"], opts["project"]
        projects = list(Project.objects.filter(name__in=names))
        missing = sorted(set(names) - {p.name for p in projects})
        if missing:
            known = ", ".join(sorted(Project.objects.values_list("name", flat=True))) or "none yet"
            raise CommandError(f"--project {', '.join(missing)}: no such project; known: {known}")
        if role in PROJECT_ROLES and role != "engineer" and not projects:
            raise CommandError(f"--role {role} needs at least one --project NAME (a {role} acts on projects)")
        password = opts["password"] or secrets.token_urlsafe(12)
        with transaction.atomic():
            user, _ = get_user_model().objects.get_or_create(username=opts["username"])
            user.set_password(password)
            user.save()
            try:
                set_roles(user, role, projects)
            except ValueError as err:
                raise CommandError(str(err)) from None
            AuthToken.objects.filter(user=user).delete()
            token_row, token = AuthToken.objects.create(user=user)
        where = f" on {', '.join(p.name for p in projects)}" if projects else ""
        expires = token_row.expiry.strftime("%Y-%m-%d") if token_row.expiry else "never"
        self.stdout.write(
            f"{role:<10} user: {user.username:<10} password: {password}  api token: {token} "
            f"(expires {expires}){where}"
        )
