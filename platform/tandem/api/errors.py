"""One place where service errors become JSON: {"code": ..., "message": ...} with the status the
error class declares (tandem.core.errors: not found 404, conflict 409, a bad config 400 naming
the key, an upload over the size cap 413). A failed import adds its summary of bad rows.
"""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tandem.core.errors import ImportFailed, ServiceError


def exception_handler(exc, context):
    if not isinstance(exc, ServiceError):
        return drf_exception_handler(exc, context)
    body = {"code": exc.code, "message": exc.message}
    if key := getattr(exc, "key", None):  # a config error names the dotted key to fix
        body["key"] = key
    if isinstance(exc, ImportFailed):
        body["summary"] = exc.summary.as_dict()
    return Response(body, status=exc.http_status)
