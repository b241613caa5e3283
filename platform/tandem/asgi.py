"""ASGI entry point (uvicorn `tandem.asgi:application` with platform/ on the path)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tandem.settings.base")
application = get_asgi_application()
