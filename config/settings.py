"""The one settings module. Every deployment-specific value comes from the environment.

Defaults are production's: DEBUG is off unless DJANGO_DEBUG=true (which `make run` and the tests
set), and then a start without a strong DJANGO_SECRET_KEY is refused. Secure cookies, HSTS and the
HTTPS redirect follow DJANGO_HTTPS (README "Security").
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.security import MAKE_ONE, proxy_ssl_header, secret_key_problem

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Off unless asked for: an image or process started without DJANGO_DEBUG runs as production does.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if DEBUG and not SECRET_KEY:
    SECRET_KEY = "django-insecure-dev-only-key"  # development only: refused below whenever DEBUG is off
elif not DEBUG and (problem := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"DJANGO_SECRET_KEY {problem}: with DJANGO_DEBUG false it must be a long random secret "
        f"(make one with: {MAKE_ONE}), or set DJANGO_DEBUG=true for local development only."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

# The public origin clients reach us at; /id answers with it. Empty: derived from the request.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")

# TLS (README "Security"). DJANGO_HTTPS declares that clients reach us over HTTPS (by default when
# PUBLIC_BASE_URL is https): cookies are then sent over HTTPS only, HSTS is on and plain HTTP is
# redirected, but for /health and /metrics, which probes inside the network ask over HTTP.
# Behind a proxy that ends TLS, name the header it sets (DJANGO_SECURE_PROXY_SSL_HEADER=
# X-Forwarded-Proto), or every request looks like plain HTTP; only when the proxy always sets or
# overwrites it, since otherwise a client can claim HTTPS.
HTTPS = env.bool("DJANGO_HTTPS", default=PUBLIC_BASE_URL.lower().startswith("https://"))
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default=""))
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=365 * 86400 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Asking browsers to preload the domain binds every host of it to HTTPS for months: the domain
# owner's decision (DJANGO_HSTS_PRELOAD=true), so its deploy warning (security.W021) is silenced.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)

INSTALLED_APPS = [
    "doors.admin",  # first: its admin templates (dashboard, login help) override django.contrib.admin's
    "doors.admin.sites.BackofficeAdminConfig",  # django.contrib.admin, with backoffice's AdminSite
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served as our own static files (no CDN)
    "oauth2_provider",
    "kernel",
    "entities.opportunities",
    "entities.contacts",
    "entities.linkage",
    "pipeline",
    "doors.eloqua",  # registers the sync's callback body (pipeline.callbacks.register_body)
    "doors.batch",
    "doors.capillary",
    "doors.ruddr",
]

MIDDLEWARE = [
    # Outermost: it runs before anything else of the next request (see its docstring).
    "kernel.middleware.CollectAfterLargeResponseMiddleware",
    "kernel.middleware.RequestIdMiddleware",
    # Outside every middleware that can fail (DisallowedHost in CommonMiddleware): any error answer
    # from below is JSON by the time it leaves.
    "kernel.middleware.JsonErrorMiddleware",
    "kernel.middleware.BulkPathMiddleware",
    "kernel.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After a write, keeps the writer's reads on the primary until the replica has it (kernel.replica).
    "kernel.replica.ReplicaPinMiddleware",
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

# No default database: a process without DATABASE_URL says so on first use (config/nodb) rather
# than quietly using whatever answers on a default address. manage.py reads a running `make run`'s
# .run/env first (config/runenv.py).
DATABASES = {"default": env.db("DATABASE_URL") if env.str("DATABASE_URL", default="") else {"ENGINE": "config.nodb"}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a cursor that sends every composed value as a parameter (kernel.db).
    DATABASES["default"]["ENGINE"] = "kernel.db"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# What sits between us and PostgreSQL (README "PgBouncer", docs/scaling.md): "" (a direct
# connection) or "pgbouncer" in transaction mode, where consecutive transactions of one connection
# may run on different server sessions. The code keeps no session state (every lock, SET and temp
# table is transaction-scoped); what Django and psycopg could keep is switched off here: psycopg's
# automatic prepared statements (PgBouncer 1.18 keeps none; Django's default client-side binding
# cursors prepare nothing, and this keeps it so should server_side_binding ever be turned on),
# server-side cursors (`.iterator()` would DECLARE a cursor that the next transaction cannot see),
# and the `options` startup parameter, which PgBouncer refuses (set temp_buffers on the role).
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f'DATABASE_POOLER must be "" or "pgbouncer", not {DATABASE_POOLER!r}')
DATABASES["default"].setdefault("OPTIONS", {})
if DATABASE_POOLER == "pgbouncer":
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# A host that is lost (frozen, cut off, powered off) must not keep its transaction, and the locks in
# it, for longer than this (docs/scaling.md "The multi-host test"): PostgreSQL otherwise keeps them
# until TCP notices, two hours with the kernel's keepalive defaults, or for ever while a frozen
# host's connection stays open. Set on the server's side of every session (the client's own
# keepalives do nothing for a host that is frozen), here as startup options, and in postgresql.conf
# or with ALTER ROLE ... SET behind PgBouncer (which refuses startup options):
# - idle_in_transaction_session_timeout: a session idle inside a transaction is ended. A sync chunk
#   never waits on its client between statements for more than a few ms (measured by make scale-test:
#   17 ms at 2,500-row chunks), an upload streams inside one COPY statement (not idle), so 60 s is wide;
# - tcp_keepalives_idle/interval/count: a connection whose peer no longer answers is found dead
#   after idle + interval x count (30 + 10 x 3 = 60 s) ...
# - client_connection_check_interval (PostgreSQL 14+): ... and a statement running for a dead
#   client is cancelled within 10 s of that, rather than running on to its statement_timeout.
DB_LOST_CLIENT_SETTINGS = {
    "idle_in_transaction_session_timeout": f"{env.int('DB_IDLE_IN_TRANSACTION_SECONDS', default=60)}s",
    "tcp_keepalives_idle": str(env.int("DB_TCP_KEEPALIVES_IDLE", default=30)),
    "tcp_keepalives_interval": str(env.int("DB_TCP_KEEPALIVES_INTERVAL", default=10)),
    "tcp_keepalives_count": str(env.int("DB_TCP_KEEPALIVES_COUNT", default=3)),
    "client_connection_check_interval": f"{env.int('DB_CLIENT_CHECK_SECONDS', default=10)}s",
}
if DATABASE_POOLER != "pgbouncer":
    # Sync chunks judge their rows in a temp table of a few tens of MB: keep it in the backend's own
    # buffers (allocated only when used) rather than spilling it through the kernel.
    startup = {"temp_buffers": env.str("DB_TEMP_BUFFERS", default="64MB"), **DB_LOST_CLIENT_SETTINGS}
    DATABASES["default"]["OPTIONS"]["options"] = " ".join(f"-c {k}={v}" for k, v in startup.items())
# Reads off the primary (README "Read replica", kernel.replica): a streaming replica of the
# database, off unless REPLICA_DATABASE_URL is set. Only the views that opt in read from it (status
# polls, lists, the admin dashboard, /metrics), and never what their client wrote and the replica
# has not replayed yet.
if env.str("REPLICA_DATABASE_URL", default=""):
    DATABASES["replica"] = {
        **env.db("REPLICA_DATABASE_URL"),
        "ENGINE": "kernel.db",
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {k: v for k, v in DATABASES["default"]["OPTIONS"].items() if k != "options"},
        "DISABLE_SERVER_SIDE_CURSORS": DATABASE_POOLER == "pgbouncer",
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["kernel.replica.ReplicaRouter"]
# How long a client's write keeps its reads on the primary at most (in practice until the replica
# has replayed the write, checked on every read): past it, a replica further behind than that is
# read anyway, so keep it above the lag you alert on.
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=3600)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The cache (auth-failure counters) shares the broker's Redis and database under its own key prefix
# (any valid REDIS_URL works: no database number is derived from it); CACHE_URL moves it elsewhere.
# Nothing ever clears the whole cache (that would flush the broker's queues too). A cache outage
# degrades: throttling is skipped and logged, requests go on (kernel.auth).
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="bulk-cache"),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
# How long a stored Idempotency-Key answer is replayed (24 h, as Stripe).
IDEMPOTENCY_KEY_SECONDS = env.int("IDEMPOTENCY_KEY_SECONDS", default=24 * 3600)
# How long a request's claim on its Idempotency-Key lasts if its process dies without releasing it
# (a request that ends releases it at once): longer than any request runs (gunicorn's --timeout is
# 120 s); until then a retry under the key is a 409.
IDEMPOTENCY_CLAIM_SECONDS = env.int("IDEMPOTENCY_CLAIM_SECONDS", default=300)

AUTH_USER_MODEL = "bulkapi.User"
AUTHENTICATION_BACKENDS = ["kernel.auth.SiteUserBackend"]
SILENCED_SYSTEM_CHECKS = [
    "auth.E003",  # usernames are unique per site, not globally
    "auth.W004",
    "security.W021",  # HSTS preload is opt-in (DJANGO_HSTS_PRELOAD), see above
    # RFC 9700 discourages the resource owner password grant, but it is the grant Eloqua's clients
    # log in with (`Site\User` and a password); every other RFC 9700 gate is on (OAUTH2_PROVIDER).
    "oauth2_provider.W002",
]
# Django's validators: createsite --password and the admin's password forms refuse a weak password.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# PBKDF2 only. The tests list a fast hasher here (tests/environment.py); never do so in production.
PASSWORD_HASHERS = env.list("PASSWORD_HASHERS", default=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The app serves its own static files (admin CSS/JS) through WhiteNoise, under gunicorn too: from
# STATIC_ROOT after `collectstatic` (the Docker image), and straight from the apps' static folders
# otherwise (`make run`, tests), so no page depends on a separate web server or a CDN.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Uploads: bodies are streamed, never held whole in memory.
BULK_MAX_UPLOAD_BYTES = env.int("BULK_MAX_UPLOAD_BYTES", default=32 * 1024 * 1024)
# Every other body (JSON, forms: definitions, syncs, deals, REST records, OAuth) is read whole, so it
# is bounded: over it is a 413. 100 deals with every property set are about 100 KB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("API_MAX_FORM_FIELDS", default=1000)  # query and form parameters
DATA_UPLOAD_MAX_NUMBER_FILES = 10  # multipart file parts (a batch upload takes exactly one)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Nesting of arrays and objects in a JSON body; deeper is a 400 (the deepest we take is 4).
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)
# Longest query parameter value, in characters (gunicorn's request line is at most 4,094 bytes).
QUERY_PARAM_MAX_CHARS = env.int("QUERY_PARAM_MAX_CHARS", default=2000)
# Per-site storage quotas (pipeline.quotas, README "Security"), the defaults of sites whose own
# (admin: Site) are empty; 0 is no limit. Staged rows and the bytes of their uploads (as sent) wait
# for a sync; batch files stay with their jobs; rejected rows with their syncs. A write past one is
# refused whole (413, or 507 once the site is at the limit); rejects are checked when an upload or
# a sync starts, never in the middle of a sync.
SITE_QUOTA_STAGED_ROWS = env.int("SITE_QUOTA_STAGED_ROWS", default=10_000_000)
SITE_QUOTA_STAGED_BYTES = env.int("SITE_QUOTA_STAGED_BYTES", default=4 * 1024**3)
SITE_QUOTA_BATCH_FILE_BYTES = env.int("SITE_QUOTA_BATCH_FILE_BYTES", default=4 * 1024**3)
SITE_QUOTA_REJECTS = env.int("SITE_QUOTA_REJECTS", default=10_000_000)
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
# A sync lane that has not committed a chunk for this long is re-enqueued by beat (its message may
# have been lost with a broker restart); a lane that is in fact running ignores the extra message.
BULK_SYNC_STALL_SECONDS = env.int("BULK_SYNC_STALL_SECONDS", default=120)
# A chunk whose statements run past their time limit this many times in a row (the same range of the
# same lane) ends its sync in `error`, its rows returned as rejects: a range that can never finish
# must not be run again for ever.
BULK_SYNC_CHUNK_OVERRUNS = env.int("BULK_SYNC_CHUNK_OVERRUNS", default=3)
# Staged rows are partitioned by id range (pipeline.partitions): beat makes this many partitions of
# this many ids ahead of the sequence, and retention drops a partition whole once none of its rows
# is wanted (docs/scaling.md "Growth of the data").
BULK_STAGING_PARTITION_ROWS = env.int("BULK_STAGING_PARTITION_ROWS", default=10_000_000)
BULK_STAGING_PARTITIONS_AHEAD = env.int("BULK_STAGING_PARTITIONS_AHEAD", default=2)
# Ended syncs (with their logs, rejects and lanes) and finished batch jobs (with their stored file)
# are deleted this long after they ended; 0 keeps them for ever.
BULK_HISTORY_SECONDS = env.int("BULK_HISTORY_SECONDS", default=90 * 86400)
CALLBACK_ALLOW_PRIVATE = env.bool("CALLBACK_ALLOW_PRIVATE", default=False)
CALLBACK_TIMEOUT_SECONDS = env.float("CALLBACK_TIMEOUT_SECONDS", default=10.0)
# CA bundle (a PEM file) callbacks over HTTPS trust instead of certifi's, e.g. an internal CA's.
CALLBACK_CA_BUNDLE = env.str("CALLBACK_CA_BUNDLE", default="")
# Failed logins (README "Throttling", kernel.throttle): per client address and per (account,
# address) in a window, then per account from every address. Over a limit, a client that has not
# logged in to that account from that address within AUTH_KNOWN_CLIENT_SECONDS waits (429) with no
# password check; valid tokens, remembered Basic credentials and known clients are never held up
# by others' failures.
AUTH_FAILURE_LIMIT = env.int("AUTH_FAILURE_LIMIT", default=20)
AUTH_ACCOUNT_FAILURE_LIMIT = env.int("AUTH_ACCOUNT_FAILURE_LIMIT", default=20)
AUTH_FAILURE_WINDOW_SECONDS = env.int("AUTH_FAILURE_WINDOW_SECONDS", default=60)
AUTH_KNOWN_CLIENT_SECONDS = env.int("AUTH_KNOWN_CLIENT_SECONDS", default=30 * 86400)
# Reverse proxies in front of the server that each append the address they were reached from to
# X-Forwarded-For; the client's address is then the one the outermost saw. 0: REMOTE_ADDR, and
# X-Forwarded-For is ignored (a client can write anything there). Set it only when the server
# cannot be reached except through those proxies.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# A Basic credential that passed its password check is trusted this long without another PBKDF2
# run (in each API process's memory; dropped when the password changes or the user is disabled).
AUTH_BASIC_CACHE_SECONDS = env.int("AUTH_BASIC_CACHE_SECONDS", default=300)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "kernel.auth.EloquaBasicAuthentication",
        "kernel.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["kernel.auth.IsSiteUser"],
    "DEFAULT_RENDERER_CLASSES": ["kernel.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "kernel.parsers.JSONParser",
        "kernel.parsers.FormParser",
        "kernel.parsers.MultiPartParser",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "kernel.renderers.JSONOnlyNegotiation",
    "EXCEPTION_HANDLER": "kernel.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "doors.eloqua.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Opportunity bulk import and sync server",
    "DESCRIPTION": (
        "Eloqua Bulk API 2.0 compatible opportunity imports and syncs (`/api/bulk/2.0`, also in any letter case), "
        "the batch CSV door and the REST API (`/api/v1`), discovery (`/id`) and OAuth 2.0 (`/auth/oauth2/token`).\n\n"
        "Authenticate with Eloqua's Basic (`Site\\User:password`), or a token (API or OAuth) as "
        "`Authorization: Bearer` or `X-Api-Key`. Every error is JSON: `{code, message, failures: [{field, value, "
        "constraint, row}]}`. Bulk lists answer Eloqua's envelope `{items, totalResults, limit, offset, count, "
        "hasMore}`. Eloqua's `X-HTTP-Method-Override` and `X-HTTP-Status-Code-Override` headers are honoured."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from drf-spectacular-sidecar's static files: /api/docs/ works offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI shows the tags in this order.
    "TAGS": [
        {"name": "Login", "description": "Eloqua's discovery call and the OAuth 2.0 token endpoint."},
        {"name": "Bulk: opportunities", "description": "Opportunity import definitions, their staged rows, fields."},
        {"name": "Bulk: opportunity contact linkage", "description": "Imports that link opportunities to contacts."},
        {"name": "Bulk: contacts", "description": "Contact import definitions, their staged rows, fields."},
        {"name": "Bulk: accounts", "description": "Account import definitions, their staged rows, fields."},
        {"name": "Bulk: syncs", "description": "Runs of an import's staged rows: status, logs, rejected rows."},
        {"name": "Batch upload", "description": "One CSV file in, a job to poll, error and success files out."},
        {"name": "REST: opportunities", "description": "Opportunities one at a time (strict JSON)."},
        {"name": "REST: deals", "description": "Upsert up to 100 deals by externalDealId."},
        {"name": "REST: contacts"},
        {"name": "REST: accounts"},
        {"name": "REST: stages"},
        {"name": "REST: tags"},
        {"name": "REST: owners"},
        {"name": "REST: pipelines"},
        {
            "name": "Ruddr",
            "description": "Ruddr's opportunity API (`/api/workspace`): uuids, cursor-paged lists `{results, hasMore}`.",
        },
        {"name": "Operations", "description": "Health of the server, its database and its broker."},
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "doors.eloqua.schema.hooks.plain_django_routes",
        "doors.eloqua.schema.hooks.header_components",
        "doors.eloqua.schema.hooks.response_components",
        "doors.eloqua.schema.hooks.closed_answers",
    ],
    "ENUM_NAME_OVERRIDES": {
        "SyncStatusEnum": ["pending", "active", "success", "warning", "error"],
        "StageStatusEnum": "entities.opportunities.models.StageStatus",
        "BatchStatusEnum": "doors.batch.models.BatchStatus",
        "DealStatusEnum": ["upserted", "failed"],
        "OAuthErrorEnum": "doors.eloqua.schema.shapes.OAUTH_ERRORS",
    },
    # kernel.converters: ids in paths are 1 to 18 digits.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}},
}

OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_ACCESS_TOKEN_SECONDS", default=28800),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_REFRESH_TOKEN_SECONDS", default=30 * 86400),
    "ROTATE_REFRESH_TOKEN": True,
    "SCOPES": {"full": "Full access"},
    "DEFAULT_SCOPES": ["full"],
    "OAUTH2_BACKEND_CLASS": "kernel.oauth.JSONOrFormOAuthLibCore",
    # RFC 9700 (OAuth 2.0 Security BCP). Only the token endpoint is routed (password, refresh and
    # client-credentials grants), so the gates for the authorization endpoint change nothing but the
    # deploy check; tokens are stored hashed (we look them up by checksum), never taken from a URL,
    # and a replayed refresh token revokes its whole family.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "PKCE_REQUIRED": True,
}

# The broker (README "Choosing a broker", docs/scaling.md): Redis (REDIS_URL, the default) or
# RabbitMQ (CELERY_BROKER_URL=amqp://...), chosen by the URL's scheme.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
BROKER_IS_RABBITMQ = CELERY_BROKER_URL.split("://", 1)[0] in ("amqp", "amqps", "pyamqp")
# RabbitMQ's consumer_timeout (rabbitmq.conf, 30 min by default): a message delivered and not acked
# for that long closes its worker's channel and is redelivered. With acks_late a task is acked when
# it ends, so every task must end well inside it: chunks take seconds and CELERY_TASK_TIME_LIMIT
# (15 min) kills one that does not. Tell us the broker's value and a time limit at or past it is
# refused at start-up.
RABBITMQ_CONSUMER_TIMEOUT_SECONDS = env.int("RABBITMQ_CONSUMER_TIMEOUT_SECONDS", default=1800)
if BROKER_IS_RABBITMQ:
    from kombu import Queue

    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Publisher confirms: apply_async returns once the broker has the message (in a quorum
        # queue: on a majority of its nodes' disks), so a message is never lost between the
        # commit that enqueues it and the broker.
        "confirm_publish": True,
    }
    # Quorum queues (Raft-replicated, durable): messages survive a broker restart and the loss of a
    # minority of nodes. They have no global QoS (Celery then uses per-consumer prefetch) and no
    # priorities. Countdowns (a retry's backoff) wait in the broker, in Celery's native delayed
    # delivery queues, rather than unacked in a worker: that needs a topic exchange, so the queues
    # are bound to one of their own (`bulk.tasks`, never Celery's default direct `celery`).
    from kombu import Exchange

    CELERY_TASK_DEFAULT_QUEUE_TYPE = "quorum"
    CELERY_TASK_DEFAULT_EXCHANGE = "bulk.tasks"
    CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
    CELERY_TASK_DEFAULT_ROUTING_KEY = "celery"
    CELERY_TASK_QUEUES = [
        Queue(name, Exchange("bulk.tasks", type="topic"), routing_key=name, queue_arguments={"x-queue-type": "quorum"})
        for name in ("celery", "bulk")
    ]
    CELERY_WORKER_DETECT_QUORUM_QUEUES = True
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Two queues, so a backlog of one never delays the other when each has its own workers (README
# "Operations"): `bulk` takes the sync chunks, `celery` (the default) callbacks and beat's upkeep.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"syncs.run": {"queue": "bulk"}}
TASK_QUEUES = ("celery", "bulk")  # every queue a task goes to: workers must consume them all
# Task events for Flower and `celery events`: received/started/succeeded from workers, sent from
# whoever enqueues (an unwatched event costs one Redis PUBLISH).
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
if BROKER_IS_RABBITMQ and CELERY_TASK_TIME_LIMIT >= RABBITMQ_CONSUMER_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT} s) must stay under RabbitMQ's consumer_timeout "
        f"(RABBITMQ_CONSUMER_TIMEOUT_SECONDS, {RABBITMQ_CONSUMER_TIMEOUT_SECONDS} s): a task still running "
        "then has its channel closed and its message redelivered to another worker."
    )
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "purge-expired-imports": {"task": "syncs.purge_expired", "schedule": crontab(minute="*/10")},
    "staging-partitions": {"task": "syncs.staging_upkeep", "schedule": timedelta(seconds=60)},
    "resume-stalled-syncs": {
        "task": "syncs.resume_stalled",
        "schedule": timedelta(seconds=env.int("BULK_SYNC_RESUME_SECONDS", default=30)),
    },
}

# Operations (README "Operations"): /metrics in Prometheus text, off (404) unless METRICS_TOKEN is
# set, then for `Authorization: Bearer <METRICS_TOKEN>` only. django-prometheus's two middlewares
# time every request from the outside of the stack in.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
INSTALLED_APPS += ["django_prometheus", "ops"]
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *MIDDLEWARE,
    "ops.middleware.PrometheusAfterMiddleware",
]

LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "kernel.logging.ContextFilter"}},
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
