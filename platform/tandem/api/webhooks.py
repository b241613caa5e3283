"""Argilla webhooks: a verified event about a response starts a pull for its project.

The project is the one that pushed the response's dataset: Tandem records Argilla's dataset id
on every record it pushes (ArgillaRecord.dataset_id), and the event carries it at
`data.record.dataset.id`. An event about a dataset Tandem never pushed starts nothing.

Signatures follow Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature headers,
HMAC-SHA256 with ARGILLA_WEBHOOK_SECRET), as Argilla signs them. A bad or missing signature is
rejected (401) and logged; nothing is stored. The pull itself is the same de-duplicating sync as
the schedule's, so an event delivered twice changes nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tandem.core.models import ArgillaRecord, Project

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
    if project is None:
        log.info("an Argilla webhook about a dataset Tandem did not push: %s", _dataset_id(event) or "no id")
        return JsonResponse({"started": [], "reason": "no project pushed this dataset"}, status=202)
    from tandem.core.tasks import sync_reviews

    started = sync_reviews(project.pk)
    return JsonResponse({"started": started}, status=202)


def _dataset_id(event: dict) -> str:
    """Argilla's id of the dataset a response event is about ("" when the event has none)."""
    data = event.get("data")
    record = data.get("record") if isinstance(data, dict) else None
    dataset = record.get("dataset") if isinstance(record, dict) else None
    return str(dataset.get("id") or "") if isinstance(dataset, dict) else ""


def _project_of(event: dict) -> Project | None:
    """The project that pushed the event's dataset (by the dataset id recorded at push)."""
    dataset_id = _dataset_id(event)
    if not dataset_id:
        return None
    pushed = ArgillaRecord.objects.filter(dataset_id=dataset_id).values_list("pair__project_id", flat=True)
    project_id = pushed.first()
    return Project.objects.filter(pk=project_id).first() if project_id is not None else None
