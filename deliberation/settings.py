"""Settings for deliberation, read from the environment (twelve-factor).

Every value a deployment changes comes from an environment variable; the defaults suit a
developer's machine. ``DATABASE_URL`` and ``REDIS_URL`` are required: ``make demo`` and
``make test`` point them at embedded PostgreSQL and Redis when they are not set.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Use `make demo`/`make test` (which start embedded services) "
            f"or export {name}, e.g. see README.md."
        )
    return value


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or (
    "insecure-development-key-change-me" if DEBUG or os.environ.get("DELIBERATION_DEV") else ""
)
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "deliberation.agents",
    "deliberation.debates",
    "deliberation.batches",
    "deliberation.moderation",
    "deliberation.annotation",
    "deliberation.transcripts",
    "deliberation.review",
    "deliberation.api",
    "deliberation.webhooks",
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

ROOT_URLCONF = "deliberation.urls"
ASGI_APPLICATION = "deliberation.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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
    "default": dj_database_url.parse(
        env_required("DATABASE_URL"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_required("REDIS_URL")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # channels-redis blocks up to 5 s on BZPOPMIN; redis-py 8 also defaults to a 5 s
            # socket read timeout, and when the two race the consumer dies with "Timeout reading
            # from ...". A longer read timeout keeps the blocking pop the one that times out.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
            "prefix": os.environ.get("CHANNELS_PREFIX", "deliberation"),
            "capacity": 1000,
            "expiry": 60,
        },
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "deliberation",
    }
}

# Celery: Redis as broker; agent turns ack late so a crashed worker's turn is redelivered, and
# the task itself guarantees that a redelivery never posts twice.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
# Beat (``celery worker -B`` in the demo, a ``beat`` service in compose) sweeps up people's
# deadlines whose scheduled task was lost with a restarted worker.
CELERY_BEAT_SCHEDULE = {
    "sweep-deadlines": {
        "task": "deliberation.debates.tasks.sweep_deadlines",
        "schedule": float(os.environ.get("DEADLINE_SWEEP_SECONDS", "30")),
    },
    # Agent turns whose worker died (expired lease) are ended and requeued; queued turns with
    # no task (the broker was down when they were enqueued) are sent again.
    "sweep-agent-turns": {
        "task": "deliberation.agents.tasks.sweep_agent_turns",
        "schedule": float(os.environ.get("AGENT_TURN_SWEEP_SECONDS", "30")),
    },
    # Webhook attempts whose task was lost (a worker died) are sent again.
    "retry-webhooks": {
        "task": "deliberation.webhooks.tasks.retry_due",
        "schedule": 60.0,
    },
}
# A queued agent turn that no task has claimed for this long has lost its task: re-sent.
AGENT_TURN_RESEND_AFTER_SECONDS = float(os.environ.get("AGENT_TURN_RESEND_AFTER_SECONDS", "60"))
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))
WEBHOOK_BACKOFF_SECONDS = float(os.environ.get("WEBHOOK_BACKOFF_SECONDS", "10"))
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest task time limit, or Redis redelivers a running task.
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "900")),
    "global_keyprefix": os.environ.get("CELERY_KEY_PREFIX", ""),
}
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "deliberation")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "debates:session_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# HTTPS, cookies and security headers: see the "HTTP security" block at the end of this file.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Product limits and agent defaults.
DELIBERATION = {
    "MAX_POST_CHARS": int(os.environ.get("MAX_POST_CHARS", "4000")),
    "MAX_FRAME_BYTES": int(os.environ.get("MAX_FRAME_BYTES", "32768")),
    # Agent text is broadcast in batches: at most every STREAM_FLUSH_SECONDS or STREAM_FLUSH_CHARS.
    "STREAM_FLUSH_SECONDS": float(os.environ.get("STREAM_FLUSH_SECONDS", "0.15")),
    "STREAM_FLUSH_CHARS": int(os.environ.get("STREAM_FLUSH_CHARS", "200")),
    "SIMULATED_TOKEN_DELAY": float(os.environ.get("SIMULATED_TOKEN_DELAY", "0.04")),
    "AGENT_TURN_MAX_ATTEMPTS": int(os.environ.get("AGENT_TURN_MAX_ATTEMPTS", "3")),
    "AGENT_TURN_RETRY_BACKOFF": float(os.environ.get("AGENT_TURN_RETRY_BACKOFF", "2.0")),
    "AGENT_TURN_SOFT_TIME_LIMIT": int(os.environ.get("AGENT_TURN_SOFT_TIME_LIMIT", "240")),
    "AGENT_TURN_TIME_LIMIT": int(os.environ.get("AGENT_TURN_TIME_LIMIT", "300")),
}

# In development, WhiteNoise serves static files straight from the finders (no collectstatic).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# HTTP API (deliberation/api): token or session authentication, JSON only, OpenAPI schema.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "deliberation.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["deliberation.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "deliberation.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "deliberation API",
    "DESCRIPTION": "Sessions, protocols, batch runs and annotation projects, scripted.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The API explorer at /api/v1/docs/ loads Swagger UI from our static files, never a CDN.
    "SWAGGER_UI_DIST": f"/{STATIC_URL.strip('/')}/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": f"/{STATIC_URL.strip('/')}/vendor/swagger-ui/favicon-32x32.png",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
}

# --- outbound requests and secrets (docs/security.md) ---
# Networks (CIDRs, comma-separated) the server may call although they are not public: webhook
# receivers and agent base URLs are checked after DNS resolution (deliberation/netguard.py) and
# loopback, private, link-local/metadata, CGNAT, multicast and reserved addresses are refused
# unless listed here. Empty in production; developer mode (DELIBERATION_DEV, `make demo`) allows
# loopback so local fake or model servers work. E.g. "10.0.5.0/24,127.0.0.1/32" for a vLLM box.
OUTBOUND_ALLOWED_NETWORKS = env_list(
    "DELIBERATION_OUTBOUND_ALLOWED_NETWORKS",
    "127.0.0.0/8,::1/128" if os.environ.get("DELIBERATION_DEV") else "",
)
# The only environment variables an agent profile's api_key_env may name (comma-separated);
# the worker sends the value as a Bearer token, so nothing else (DATABASE_URL...) may be read.
AGENT_API_KEY_ENV_ALLOWED = env_list(
    "DELIBERATION_AGENT_API_KEY_ENVS",
    "OPENAI_API_KEY,OPENROUTER_API_KEY,ANTHROPIC_API_KEY,VLLM_API_KEY,OLLAMA_API_KEY",
)

# --- semantic entropy: the judge of meaning (docs/moderation.md, agents/equivalence.py) ---
# The name of the agent profile whose model decides whether two free-text answers entail each
# other (bidirectional entailment, Kuhn et al. 2023; Farquhar et al. 2024). Empty: no model, and
# the moderator page shows "lexical clusters (no model configured)" instead of semantic entropy.
SEMANTIC_JUDGE_PROFILE = os.environ.get("DELIBERATION_SEMANTIC_JUDGE_PROFILE", "").strip()
# Wall-clock seconds of model calls per metrics update (no call starts after it is spent); a
# failed judge is not asked again for SEMANTIC_JUDGE_RETRY_SECONDS.
SEMANTIC_JUDGE_BUDGET_SECONDS = float(os.environ.get("DELIBERATION_SEMANTIC_JUDGE_BUDGET", "10"))
SEMANTIC_JUDGE_RETRY_SECONDS = 60.0
# Both directions must be "entailment" (the default of the authors' experiments); False: their
# non-strict rule (no contradiction, and not both neutral).
SEMANTIC_JUDGE_STRICT = env_bool("DELIBERATION_SEMANTIC_JUDGE_STRICT", True)
# --- end of the semantic entropy block ---

# --- HTTP security: HTTPS, cookies, headers, CSP (docs/security.md, sections 4 and 6) ---
# Production (DEBUG off and DELIBERATION_DEV unset) is HTTPS-only by default: HTTP redirects to
# HTTPS, cookies are Secure, HSTS is sent. DELIBERATION_HTTPS=0 turns these defaults off at once
# (a plain-HTTP trial); every setting below can also be set on its own from the environment.
# Developer mode (`make demo`, `make test`, CI over http://127.0.0.1) keeps them off.
HTTPS_ONLY = env_bool("DELIBERATION_HTTPS", not DEBUG and not os.environ.get("DELIBERATION_DEV"))
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS_ONLY)
SECURE_REDIRECT_EXEMPT = env_list("DJANGO_SECURE_REDIRECT_EXEMPT", "")
# SECURE_COOKIES is the older name of the switch; both cookies follow it unless set apart.
SESSION_COOKIE_SECURE = env_bool(
    "DJANGO_SESSION_COOKIE_SECURE", env_bool("SECURE_COOKIES", HTTPS_ONLY)
)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", SESSION_COOKIE_SECURE)
# HSTS (sent on HTTPS responses only). "preload" only allows submitting the domain to the
# browsers' preload list; nothing is submitted by it.
SECURE_HSTS_SECONDS = int(
    os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "31536000" if HTTPS_ONLY else "0")
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS_ONLY)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", HTTPS_ONLY)
SECURE_CONTENT_TYPE_NOSNIFF = env_bool("DJANGO_SECURE_CONTENT_TYPE_NOSNIFF", True)
SECURE_REFERRER_POLICY = os.environ.get("DJANGO_SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = os.environ.get(
    "DJANGO_SECURE_CROSS_ORIGIN_OPENER_POLICY", "same-origin"
)
X_FRAME_OPTIONS = os.environ.get("DJANGO_X_FRAME_OPTIONS", "DENY")
# Content-Security-Policy and Permissions-Policy (deliberation/security_headers.py), on every
# response. No inline script or style anywhere: templates load JS and CSS from static/.
# connect-src also gets ws:// and wss:// of the request's own host. The Swagger UI page marks
# its inline script and style with a per-request nonce.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# DELIBERATION_CSP_REPORT_ONLY=1: send the policy as Content-Security-Policy-Report-Only (to try
# a changed policy on a live site without enforcing it).
CONTENT_SECURITY_POLICY_REPORT_ONLY = env_bool("DELIBERATION_CSP_REPORT_ONLY", False)
# Browser features no page uses are switched off for the page and every frame.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}
MIDDLEWARE.insert(
    MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1,
    "deliberation.security_headers.SecurityHeadersMiddleware",
)
# --- end of the HTTP security block ---
