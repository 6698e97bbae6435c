"""Settings for GNoME Explorer, read from the environment only.

With no environment set the project runs on the embedded default: a SQLite file in ``var/``,
Celery tasks executed eagerly in-process, a local-memory cache and the data in ``../shared/data``.
Production sets ``DATABASE_URL``, ``CELERY_BROKER_URL``, ``REDIS_URL``, ``SECRET_KEY``,
``ALLOWED_HOSTS`` and ``DEBUG=False`` (see docs/operations.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_str(name: str, default: str = "") -> str:
    """A string setting; ``NAME_FILE`` (a Docker secret) wins over ``NAME`` when set."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use True or False")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off a secret key is required "
            "(set SECRET_KEY or SECRET_KEY_FILE)."
        )
    SECRET_KEY = "development-only-key-never-use-in-production-gnome-explorer"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "gnome_site.errors.csrf_failure"

# Where the real data lives (never copied into the repository).
GNOME_DATA_DIR = Path(env_str("GNOME_DATA_DIR") or (BASE_DIR.parent / "shared" / "data")).resolve()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "bulma",  # Bulma CSS and Font Awesome, served from here (no CDN) for the explorer
    "fontawesomefree",
    "materials",
    "hullapi",
    "discovery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "gnome_site.request_checks.RequestChecks",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "gnome_site.read_cache.AnonymousReadCache",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "gnome_site.middleware.DatabaseUnavailable",  # a database outage is a 503 with Retry-After, not a 500
]

ROOT_URLCONF = "gnome_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "gnome_site" / "templates"],
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

WSGI_APPLICATION = "gnome_site.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'gnome.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server read while an import writes; a busy timeout instead of "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )

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
WHITENOISE_USE_FINDERS = True  # app static files (explorer CSS, Swagger UI) also without collectstatic
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Cache: Redis when REDIS_URL is set, local memory otherwise.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "gnome"}}

# Celery: a broker when CELERY_BROKER_URL is set; otherwise tasks run eagerly in this process.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task a killed worker had taken is handed to another worker after this many seconds (Redis broker); keep it
# above the longest task (an evaluation chunk), or a slow task is started twice (harmless: tasks are idempotent).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE

# Production hardening, on whenever DEBUG is off.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# spglib's C core writes its internal retries ("spglib: ssm_get_exact_positions failed.") to stderr for cells
# whose symmetry it has to search hard, unasked, in every process that finds symmetry (imports, ingestion,
# generation); it reads this switch at each message, so it holds for the workers this process starts.
# SPGLIB_WARNING=ON in the environment shows them again.
os.environ.setdefault("SPGLIB_WARNING", "OFF")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# CORS: the public read-only APIs may be called from any origin (OPTIMADE asks for it); nothing else.
CORS_ALLOW_ALL_ORIGINS = True
CORS_URLS_REGEX = r"^/(api|optimade)/.*$"
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS", "POST"]

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": ["gnome_site.parsers.JSONParser"],
    "DEFAULT_PERMISSION_CLASSES": ["materials.permissions.ReadOnlyOrStaff"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    # "predict": POST /api/v1/predict/ runs the GNN ensemble and a structure match per request, for anyone
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("API_ANON_RATE", "600/min"),
                               "predict": env_str("API_PREDICT_RATE", "30/min")},
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "gnome_site.errors.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "GNoME Explorer API",
    "DESCRIPTION": (
        "Materials Project-style search of the catalogue, structures, and the convex hull. GNoME data: "
        "CC BY-NC 4.0 (Merchant et al., Nature 2023); Materials Project data: CC BY 4.0."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Importer knobs: worker processes for CPU-bound symmetry analysis (0 = one per core).
GNOME_IMPORT_WORKERS = env_int("GNOME_IMPORT_WORKERS", 0)
# anonymous API reads served from the cache while the data is unchanged (gnome_site.read_cache); 0 = off
GNOME_API_CACHE_SECONDS = env_int("GNOME_API_CACHE_SECONDS", 0 if DEBUG else 60)
# largest structure file an upload takes (POST /api/v1/materials/uploads/), and the largest request body
GNOME_UPLOAD_MAX_BYTES = env_int("GNOME_UPLOAD_MAX_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = GNOME_UPLOAD_MAX_BYTES + 512 * 1024  # non-file bodies (a JSON structure text)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
# trajectories and checkpoints of MD runs (discovery.conductivity)
GNOME_MD_DIR = Path(env_str("GNOME_MD_DIR") or (VAR_DIR / "md")).resolve()
# torch threads of one prediction (POST /api/v1/predict/): one is fastest for a single crystal (benchmarks/predict.py)
GNOME_PREDICT_THREADS = env_int("GNOME_PREDICT_THREADS", 1)
# processes of a hull recompute (0: one per core; a Celery prefork child always uses 1)
GNOME_HULL_WORKERS = env_int("GNOME_HULL_WORKERS", 0)
