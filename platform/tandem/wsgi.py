"""WSGI entry point (gunicorn `tandem.wsgi:application` with platform/ on the path)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tandem.settings.base")
application = get_wsgi_application()
