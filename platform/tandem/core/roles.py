"""The four roles as Django groups with model permissions.

- engineer: everything on projects, pairs, judgments, labels and jobs (import, judge, export).
- auditor: read-only on all of it (reports and downloads, nothing that changes data).
- annotator: nothing in Tandem itself; annotators work in Argilla.
- admin: a superuser (the Django admin) and every permission.
"""

from django.contrib.auth.models import Group, Permission

MODELS = ["project", "pair", "judgment", "humanlabel", "job"]
ROLES = {
    "engineer": [f"{action}_{m}" for m in MODELS for action in ("view", "add", "change", "delete")],
    "auditor": [f"view_{m}" for m in MODELS],
    "annotator": [],
    "admin": [f"{action}_{m}" for m in MODELS for action in ("view", "add", "change", "delete")],
}


def ensure_roles(**_kwargs) -> None:
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(content_type__app_label="core", codename__in=codenames)
        group.permissions.set(perms)


def grant_role(user, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
    ensure_roles()
    user.groups.add(Group.objects.get(name=role))
    if role == "admin":
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
