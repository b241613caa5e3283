"""The Celery app: background jobs run the same service functions as the CLI.

Broker and result backend come from CELERY_BROKER_URL (Redis). GPU training goes to the `gpu`
queue; everything else to `default`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tandem.settings.base")

app = Celery("tandem")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
