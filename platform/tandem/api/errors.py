"""One place where service errors become JSON: {"code": ..., "message": ...} with a status.

A service error says its own HTTP status where 400 is wrong (an upload over the size cap: 413).
"""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tandem.core.services import ImportFailed, ServiceError


def exception_handler(exc, context):
    if isinstance(exc, ImportFailed):
        body = {"code": exc.code, "message": exc.message, "summary": exc.summary.as_dict()}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ServiceError):
        code = getattr(exc, "http_status", status.HTTP_400_BAD_REQUEST)
        body = {"code": exc.code, "message": exc.message}
        if key := getattr(exc, "key", None):  # a config error names the dotted key to fix
            body["key"] = key
        return Response(body, status=code)
    return drf_exception_handler(exc, context)
