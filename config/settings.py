"""The one settings module. Every deployment-specific value comes from the environment.

Defaults give the embedded `make run` mode; production (DJANGO_DEBUG=false) refuses to start
without a real secret key.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")
    SECRET_KEY = "insecure-dev-only-key"
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

# The public origin clients reach us at; /id answers with it. Empty: derived from the request.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "oauth2_provider",
    "bulkapi",
    "opportunities",
    "contacts",
    "linkage",
    "syncs",
    "batches",
]

MIDDLEWARE = [
    "bulkapi.middleware.RequestIdMiddleware",
    "bulkapi.middleware.BulkPathMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "bulkapi.middleware.JsonErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
APPEND_SLASH = False
WSGI_APPLICATION = "config.wsgi.application"

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
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/bulk")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Sync chunks judge their rows in a temp table of a few tens of MB: keep it in the backend's own
# buffers (allocated only when used) rather than spilling it through the kernel.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c temp_buffers=" + env.str(
    "DB_TEMP_BUFFERS", default="64MB"
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The cache (auth-failure counters) lives in its own Redis database, so clearing it can never
# touch the broker's queues: REDIS_URL's database + 1 unless CACHE_URL says otherwise.
_redis = urlsplit(REDIS_URL)
_cache_db = int((_redis.path or "/0").lstrip("/") or 0) + 1
CACHE_URL = env.str("CACHE_URL", default=urlunsplit(_redis._replace(path=f"/{_cache_db}")))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="bulk"),
    }
}

AUTH_USER_MODEL = "bulkapi.User"
AUTHENTICATION_BACKENDS = ["bulkapi.auth.SiteUserBackend"]
SILENCED_SYSTEM_CHECKS = ["auth.E003", "auth.W004"]  # usernames are unique per site, not globally
AUTH_PASSWORD_VALIDATORS = []
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ],
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Uploads: bodies are streamed, never held whole in memory.
BULK_MAX_UPLOAD_BYTES = env.int("BULK_MAX_UPLOAD_BYTES", default=32 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = None  # we enforce our own limit while streaming
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Rows per sync chunk: one transaction each. 50k rows take about 1-2 s and a few MB of
# temp table on 2 cores; small enough to stay far under the broker visibility timeout.
BULK_SYNC_CHUNK_ROWS = env.int("BULK_SYNC_CHUNK_ROWS", default=50_000)
# Lanes a sync is split into: each lane is a chain of chunk tasks any worker can claim, and lanes
# run side by side (rows are spread over lanes by identifier, so no two lanes touch one record).
# Match it to the worker processes you run for syncs; beyond that, lanes take turns.
BULK_SYNC_LANES = env.int("BULK_SYNC_LANES", default=2)
# Rows in a laned sync's first range, which lane 0 runs alone (the other lanes start when it has
# committed, on statistics that know its rows): small, so the others hardly wait.
BULK_SYNC_FIRST_RANGE_ROWS = env.int("BULK_SYNC_FIRST_RANGE_ROWS", default=5_000)
# A sync whose worker has not committed a chunk for this long is re-enqueued by beat.
BULK_SYNC_STALL_SECONDS = env.int("BULK_SYNC_STALL_SECONDS", default=300)
CALLBACK_ALLOW_PRIVATE = env.bool("CALLBACK_ALLOW_PRIVATE", default=False)
CALLBACK_TIMEOUT_SECONDS = env.float("CALLBACK_TIMEOUT_SECONDS", default=10.0)
AUTH_FAILURE_LIMIT = env.int("AUTH_FAILURE_LIMIT", default=20)  # failures per client per window
AUTH_FAILURE_WINDOW_SECONDS = env.int("AUTH_FAILURE_WINDOW_SECONDS", default=60)
# A Basic credential that passed its password check is trusted this long without another PBKDF2
# run (in each API process's memory; dropped when the password changes or the user is disabled).
AUTH_BASIC_CACHE_SECONDS = env.int("AUTH_BASIC_CACHE_SECONDS", default=300)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "bulkapi.auth.EloquaBasicAuthentication",
        "bulkapi.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["bulkapi.auth.IsSiteUser"],
    "DEFAULT_RENDERER_CLASSES": ["bulkapi.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "bulkapi.renderers.JSONOnlyNegotiation",
    "EXCEPTION_HANDLER": "bulkapi.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Opportunity bulk import and sync server",
    "DESCRIPTION": "Eloqua Bulk API 2.0 compatible opportunity imports, syncs and REST APIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_ACCESS_TOKEN_SECONDS", default=28800),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_REFRESH_TOKEN_SECONDS", default=30 * 86400),
    "ROTATE_REFRESH_TOKEN": True,
    "SCOPES": {"full": "Full access"},
    "DEFAULT_SCOPES": ["full"],
    "PKCE_REQUIRED": False,
    "OAUTH2_BACKEND_CLASS": "bulkapi.oauth.JSONOrFormOAuthLibCore",
}

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"syncs.*": {"queue": "bulk"}}
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "purge-expired-imports": {"task": "syncs.purge_expired", "schedule": crontab(minute="*/10")},
    "resume-stalled-syncs": {"task": "syncs.resume_stalled", "schedule": timedelta(minutes=1)},
}

LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "bulkapi.logging.ContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(site)s %(sync_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s site=%(site)s "
            "sync=%(sync_id)s] %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_JSON else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
