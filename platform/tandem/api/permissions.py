"""API permissions: who may reach a view at all. Which project a request may touch is checked
by the views through the access_* selectors (another team's project is a 404, a role too weak
for the action a 403); see tandem.core.roles for the roles.
"""

from rest_framework.permissions import BasePermission

from tandem.core import roles


class ProjectReaders(BasePermission):
    """Signed-in users who read some project (auditors, engineers, creators, admins): the API
    root, the OpenAPI schema and its docs, and every list (scoped to their projects).
    Annotators work in Argilla and get 403 here."""

    def has_permission(self, request, view) -> bool:
        return roles.reads_any_project(request.user)


class Admins(BasePermission):
    """Superusers only: membership changes."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)
