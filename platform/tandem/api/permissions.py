"""API permissions: Django model permissions, with reads requiring the `view` permission.

DRF's stock DjangoModelPermissions lets any signed-in user read; here an annotator (who has no
Tandem permissions) gets 403 everywhere and an auditor can read but never write.
"""

from rest_framework.permissions import BasePermission, DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class ProjectReaders(BasePermission):
    """Signed-in users who may read projects (auditors, engineers, admins): the API root, the
    OpenAPI schema and its docs. Annotators work in Argilla and get 403 here too."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("core.view_project"))


def requires(*perms: str) -> type[BasePermission]:
    """A permission class for an action whose model is not the view's queryset."""

    class Requires(BasePermission):
        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.is_authenticated and request.user.has_perms(perms))

    Requires.__name__ = f"Requires({', '.join(perms)})"
    return Requires
