"""Settings for Game Master, read from environment variables only (see .env.example)."""

from __future__ import annotations

from pathlib import Path

from gamemaster.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-secret-key-change-me-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "gamemaster",
    "regions",
    "rooms",
    "hosts",
    "bans",
    "parties",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gamemaster.urls"
# Paths are the spec's; a trailing slash is optional, so no redirects are wanted.
APPEND_SLASH = False

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

WSGI_APPLICATION = "gamemaster.wsgi.application"
ASGI_APPLICATION = "gamemaster.asgi.application"

_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": database_from_url(_database_url, base_dir=BASE_DIR)}
else:
    # Embedded default: a SQLite file in the repo's var/ folder (ignored by git).
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES = {"default": sqlite_database(BASE_DIR / "var" / "gamemaster.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # The pub/sub layer: one PUBLISH per group message, where the core layer queues a copy per
    # session and drops what overflows a process's queue (bench/RESULTS.md, scenario 4).
    _channel_layer = env_str("CHANNEL_LAYER_BACKEND", "channels_redis.pubsub.RedisPubSubChannelLayer")
    _layer_config: dict = {"hosts": [REDIS_URL]}
    if _channel_layer == "channels_redis.core.RedisChannelLayer":
        _layer_config.update(capacity=1000, expiry=30)
    CHANNEL_LAYERS = {"default": {"BACKEND": _channel_layer, "CONFIG": _layer_config}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# --- Tokens (DESIGN.md §4) -------------------------------------------------------------------
# HS256 with TOKEN_SECRET (defaults to SECRET_KEY), or RS256/ES256 with TOKEN_PUBLIC_KEY (PEM text
# or a path to a PEM file). Only TOKEN_ALGORITHMS are accepted: `alg: none` never is.
TOKEN_ALGORITHMS = env_list("TOKEN_ALGORITHMS", ["HS256"])
TOKEN_SECRET = env_str("TOKEN_SECRET", SECRET_KEY)
TOKEN_PUBLIC_KEY = env_str("TOKEN_PUBLIC_KEY")
TOKEN_PRIVATE_KEY = env_str("TOKEN_PRIVATE_KEY")  # only for `issue_token` with RS256/ES256
TOKEN_ISSUER = env_str("TOKEN_ISSUER")
TOKEN_AUDIENCE = env_str("TOKEN_AUDIENCE")
TOKEN_DEFAULT_TTL = env_int("TOKEN_DEFAULT_TTL", 3600)

# --- Client addresses and GeoIP (DESIGN.md §4, §9) -------------------------------------------
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
GEOIP = {
    "BACKEND": "regions.geoip.MaxMindCityLocator",
    "OPTIONS": {"path": env_str("GEOIP_PATH")},
}

# --- Game Master behaviour -------------------------------------------------------------------
CREATE_RATE = env_str("CREATE_RATE", "5/min")
CREATE_MULTI_RATE = env_str("CREATE_MULTI_RATE", "120/min")
# Join by id, quick-join and search answer their common case without Django's request cycle
# (gamemaster/fastlane.py; PostgreSQL only), on a pool of this many connections per process.
FAST_LANE = env_bool("FAST_LANE", True)
FAST_LANE_POOL_SIZE = env_int("FAST_LANE_POOL_SIZE", 8)
# How long the lane keeps games, versions, configurations and regions it read (an operator's edit
# reaches the lane of other processes within this; its own process forgets at once).
FAST_LANE_CACHE_SECONDS = env_float("FAST_LANE_CACHE_SECONDS", 2.0)
ROOMS_PAGE_DEFAULT = env_int("ROOMS_PAGE_DEFAULT", 100)
ROOMS_PAGE_MAX = env_int("ROOMS_PAGE_MAX", 1000)
PLAYERS_MAX_ACCOUNTS = env_int("PLAYERS_MAX_ACCOUNTS", 100)
MULTI_MAX_ACCOUNTS = env_int("MULTI_MAX_ACCOUNTS", 100)
# How long a game server or a host agent may stay disconnected before its rooms are removed.
GAMESERVER_GRACE_SECONDS = env_float("GAMESERVER_GRACE_SECONDS", 30.0)
HOST_GRACE_SECONDS = env_float("HOST_GRACE_SECONDS", 30.0)
GAMESERVER_HEARTBEAT_SECONDS = env_float("GAMESERVER_HEARTBEAT_SECONDS", 10.0)
PARTY_MAX_MEMBERS_LIMIT = env_int("PARTY_MAX_MEMBERS_LIMIT", 100)
PARTY_RECONNECT_GRACE_SECONDS = env_float("PARTY_RECONNECT_GRACE_SECONDS", 10.0)
PARTY_CALLBACK_TIMEOUT = env_float("PARTY_CALLBACK_TIMEOUT", 5.0)
PARTY_ABANDONED_SECONDS = env_int("PARTY_ABANDONED_SECONDS", 3600)
# Live party sessions refresh their row this often, so rows left by a dead process go stale.
PARTY_SESSION_HEARTBEAT_SECONDS = env_float("PARTY_SESSION_HEARTBEAT_SECONDS", 60.0)
BAN_PRUNE_AFTER_DAYS = env_int("BAN_PRUNE_AFTER_DAYS", 30)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["gamemaster.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["gamemaster.auth.HasRequiredScopes"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "gamemaster.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "NUM_PROXIES": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Game Master API",
    "DESCRIPTION": "Rooms, regions, player status, bans and parties for dedicated game servers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
