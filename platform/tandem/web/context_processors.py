"""What every page's header needs to know about the signed-in user's access."""

from tandem.core import roles


def access(request) -> dict:
    """`reads_projects`: whether to link the API docs (annotators have no use for them)."""
    user = getattr(request, "user", None)
    return {"reads_projects": roles.reads_any_project(user)}
