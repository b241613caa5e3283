"""Argilla webhooks: a verified event about a response starts a pull for its project.

Signatures follow Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature headers,
HMAC-SHA256 with ARGILLA_WEBHOOK_SECRET), as Argilla signs them. A bad or missing signature is
rejected (401) and logged; nothing is stored. The pull itself is the same de-duplicating sync as
the schedule's, so an event delivered twice changes nothing.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tandem.core.models import Project

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def argilla_webhook(request):
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    if not settings.ARGILLA_WEBHOOK_SECRET:
        return HttpResponse("webhooks are not configured (ARGILLA_WEBHOOK_SECRET)", status=503)
    try:
        event = Webhook(settings.ARGILLA_WEBHOOK_SECRET).verify(request.body, dict(request.headers))
    except WebhookVerificationError as err:
        log.warning("rejected an Argilla webhook from %s: %s", request.META.get("REMOTE_ADDR"), err)
        return HttpResponse("bad signature", status=401)
    if not str(event.get("type", "")).startswith("response."):
        return JsonResponse({"started": []})
    project = _project_of(event)
    from tandem.core.tasks import sync_reviews

    started = sync_reviews(project.pk if project else None)
    return JsonResponse({"started": started}, status=202)


def _project_of(event: dict) -> Project | None:
    """The project whose dataset the response belongs to (datasets are named <project>-round<N>)."""
    text = json.dumps(event.get("data", {}))
    for project in Project.objects.only("name"):
        if f'"{project.name}-round' in text:
            return project
    return None
