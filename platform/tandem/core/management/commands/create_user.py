"""`manage.py create_user NAME --role engineer|auditor|annotator|admin [--password P]`."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from tandem.core.roles import ROLES, grant_role


class Command(BaseCommand):
    help = "Create (or reset) a user with a role and an API token; prints the credentials."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLES))
        parser.add_argument("--password", help="default: a new random password")

    def handle(self, *args, **opts):
        password = opts["password"] or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=opts["username"])
        user.set_password(password)
        user.save()
        grant_role(user, opts["role"])
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(
            f"{opts['role']:<10} user: {user.username:<10} password: {password}  api token: {token.key}"
        )
