"""Who may do what: one global role (admin) and three roles per project (memberships).

- admin: a superuser; sees and changes every project, manages members (pages and API).
- engineer of a project: reads and changes it (import, judge, export, cancel its jobs, edit
  its rubric and configs). The global `engineer` group adds one right: creating projects (the
  creator becomes the new project's engineer). It reads no project by itself.
- auditor of a project: reads it (pages, reports, downloads, the API), changes nothing.
- annotator of a project: nothing in Tandem itself; annotators work in the project's Argilla
  workspace, and their home page shows their queue and progress.

A project a user is no member of does not exist for them (404), so another team's project
names, pairs and jobs never leak. `set_roles` replaces a user's roles whole, so revoking one
is granting the rest again (`manage.py create_user NAME --role R --project P ...`).
"""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from .models import Membership, Project

ROLES = ["admin", "engineer", "auditor", "annotator"]
PROJECT_ROLES = [role.value for role in Membership.Role]
READ_ROLES = frozenset({Membership.Role.ENGINEER, Membership.Role.AUDITOR})
WRITE_ROLES = frozenset({Membership.Role.ENGINEER})
CREATORS = "engineer"  # the global group whose members may create projects


def ensure_roles(**_kwargs) -> None:
    """The one global group that still carries a Django permission (post_migrate)."""
    group, _ = Group.objects.get_or_create(name=CREATORS)
    group.permissions.set(Permission.objects.filter(content_type__app_label="core", codename="add_project"))


@transaction.atomic
def set_roles(user, role: str, projects: list[Project] = ()) -> None:
    """Make `role` the user's only role: on each of `projects`, or globally for `admin`.

    An engineer also joins the creators' group. Raises ValueError for an unknown role or for
    admin with projects (an admin sees every project already).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
    if role == "admin" and projects:
        raise ValueError("admin is a global role (it sees every project): give it no --project")
    ensure_roles()
    user.groups.clear()
    user.memberships.all().delete()
    user.is_staff = user.is_superuser = role == "admin"
    user.save(update_fields=["is_staff", "is_superuser"])
    if role == CREATORS:
        user.groups.add(Group.objects.get(name=CREATORS))
    Membership.objects.bulk_create(Membership(user=user, project=p, role=role) for p in projects)


def add_member(user, project: Project, role: str) -> Membership:
    """Give `user` `role` on `project`, replacing their previous role there."""
    if role not in PROJECT_ROLES:
        raise ValueError(f"unknown project role '{role}'; use one of {', '.join(PROJECT_ROLES)}")
    member, _ = Membership.objects.update_or_create(user=user, project=project, defaults={"role": role})
    return member


def role_on(user, project_id: int) -> str | None:
    """The user's role on the project: 'admin' for superusers, None for a stranger."""
    if not (user and user.is_authenticated):
        return None
    if user.is_superuser:
        return "admin"
    return Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True).first()


def can_read(role: str | None) -> bool:
    return role == "admin" or role in READ_ROLES


def can_write(role: str | None) -> bool:
    return role == "admin" or role in WRITE_ROLES


def may_create_projects(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("core.add_project"))


def reads_any_project(user) -> bool:
    """Whether the user may open the API's index and docs: an admin, a creator, or a reader
    of some project (annotators are not)."""
    if not (user and user.is_authenticated):
        return False
    if user.is_superuser or Membership.objects.filter(user=user, role__in=READ_ROLES).exists():
        return True
    return may_create_projects(user)  # two queries (the user's permissions): asked last
