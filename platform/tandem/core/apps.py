from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tandem.core"
    label = "core"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
        from .roles import ensure_roles

        # Permissions exist only after migrate has run, so the role groups are (re)built then.
        post_migrate.connect(ensure_roles, sender=self)
