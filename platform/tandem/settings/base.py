"""Settings for every environment, read from the environment (django-environ).

Defaults are the embedded default of `make demo`: SQLite under var/, DEBUG off, loopback hosts
only. Production settings (`tandem.settings.prod`) require a SECRET_KEY and turn on the HTTPS
hardening. Every variable is listed in the README's configuration table.
"""

import secrets
from pathlib import Path

import environ

ROOT_DIR = Path(__file__).resolve().parents[3]
VAR_DIR = Path(environ.Env().str("TANDEM_VAR_DIR", default=str(ROOT_DIR / "var")))

env = environ.Env()


def _local_secret_key() -> str:
    """A random key kept in var/ (mode 0600), so sessions survive restarts of the demo."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tandem.core",
    "tandem.api",
    "tandem.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tandem.urls"
WSGI_APPLICATION = "tandem.wsgi.application"
ASGI_APPLICATION = "tandem.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tandem.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web app and the job worker share the file; IMMEDIATE
    # transactions take the write lock up front instead of failing half-way with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

# Job progress and cancel flags live in the cache, not in the job's row: an import holds one
# database transaction (all-or-nothing), and on SQLite nothing else can write meanwhile.
# Use Redis (`rediscache://...`) whenever jobs run in a separate worker process.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(env.str("TANDEM_MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded pair files can be large; Django streams anything above this to a temporary file.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tandem.api.permissions.ModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "tandem.api.pagination.Pages",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tandem.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tandem API",
    "DESCRIPTION": "Hybrid AI + human preference labeling for RLAIF.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are for the API's users: signed in, with read access to projects.
    "SERVE_PERMISSIONS": ["tandem.api.permissions.ProjectReaders"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6389/0")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"tandem.core.tasks.run_training_job": {"queue": "gpu"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Pull annotators' labels from Argilla every minute (webhooks make it sooner).
CELERY_BEAT_SCHEDULE = {
    "sync-reviews": {
        "task": "tandem.core.tasks.sync_reviews",
        "schedule": env.float("TANDEM_SYNC_SECONDS", 60.0),
    },
}

# Imports: a text field longer than this is refused with an error naming the row and field.
TANDEM_MAX_FIELD_CHARS = env.int("TANDEM_MAX_FIELD_CHARS", default=200_000)
TANDEM_SHARED_DATA = Path(env.str("TANDEM_SHARED_DATA", default=str(ROOT_DIR.parent / "shared" / "data")))

# Human review: the team's Argilla (or the local one `make argilla-up` starts).
ARGILLA_API_URL = env.str("ARGILLA_API_URL", default="http://127.0.0.1:6900")
ARGILLA_API_KEY = env.str("ARGILLA_API_KEY", default="")
ARGILLA_WORKSPACE = env.str("ARGILLA_WORKSPACE", default="tandem")
ARGILLA_WEBHOOK_SECRET = env.str("ARGILLA_WEBHOOK_SECRET", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("TANDEM_LOG_LEVEL", default="WARNING")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Request-by-request chatter from the Argilla and OpenAI SDKs' HTTP clients.
        "httpx": {"level": "WARNING"},
        "argilla": {"level": "WARNING"},
        "argilla.sdk": {"level": "WARNING"},
    },
}
