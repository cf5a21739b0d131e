"""Django settings. What a deployment changes comes from the environment (see .env.example)."""

import os
from pathlib import Path

import dj_database_url

from playground.secret_key import secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PLAYGROUND_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite database and the lab live here

SECRET_KEY = secret_key(VAR_DIR)  # DJANGO_SECRET_KEY, or generated once into var/secret-key
# Tracebacks and settings on error pages only when asked for (`make run` asks, on 127.0.0.1).
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "playground.lab",
    "playground.engine",
    "playground.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so that static files carry the policy too.
    "playground.web.security.content_security_policy_middleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "playground.urls"

# -- Browser-side safety (`manage.py check --deploy` is clean but for the HTTPS items) ----------
X_FRAME_OPTIONS = "DENY"  # the CSP's frame-ancestors 'none', for browsers that predate it
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # share links carry a control token: never leak them
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # pages hand htmx the token (hx-headers); no script reads the cookie
# PLAYGROUND_BEHIND_TLS=1: a TLS proxy in front terminates HTTPS and says so in X-Forwarded-Proto
# (it must set that header itself, never pass on a client's). Everything then insists on HTTPS.
BEHIND_TLS = os.environ.get("PLAYGROUND_BEHIND_TLS", "0") == "1"
if BEHIND_TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading HSTS is a promise for the whole registered domain, which only its owner can make.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

ASGI_APPLICATION = "playground.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The runner process writes while requests read: WAL lets readers go on, and a writer waits
    # for the lock instead of failing. Tests use a file too (an in-memory database shared between
    # threads fails with "table is locked" instead of waiting).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # One file per test process, so that two test sessions never share one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}

# In memory by default: serve's runner process hands its live fragments to serve (runner_link),
# which fans them out. REDIS_URL lets several web processes and runners share live updates.
if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"  # collectstatic output, served by WhiteNoise
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"

# The Kafka cluster. Set KAFKA_BOOTSTRAP_SERVERS to use an external cluster (broker faults are then
# unavailable); otherwise the app manages its own lab under LAB_DIR, on ports from LAB_PORT_BASE.
KAFKA_BOOTSTRAP_SERVERS = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
LAB_DIR = Path(os.environ.get("KAFKA_LAB_DIR", VAR_DIR / "lab"))
LAB_PORT_BASE = int(os.environ.get("KAFKA_LAB_PORT_BASE", "19000"))

# -- A server many people share (see README, "Configuration") ------------------------------------
# How many experiments run at once on the shared cluster (those whose faults touch only their own
# clients). The presets are paced for watching, so an experiment's workers wait far more than they
# compute: by default six per core. Measured with `make bench-classroom` on 2 cores, 30 presets at
# once: 8 at a time took 61 s; 12 took 50 s with the live page's p95 at 128 ms; 16 took 41 s but
# the live pages lagged by seconds.
PLAYGROUND_MAX_PARALLEL = max(
    1, int(os.environ.get("PLAYGROUND_MAX_PARALLEL", 6 * (os.cpu_count() or 1)))
)
# How many experiments one client (a browser session, or an IP address for the API) may have
# queued or running at once.
PLAYGROUND_MAX_ACTIVE_PER_CLIENT = int(os.environ.get("PLAYGROUND_MAX_ACTIVE_PER_CLIENT", "3"))
# The longest an experiment may run (wall clock); longer specs are refused.
PLAYGROUND_MAX_RUN_SECONDS = int(os.environ.get("PLAYGROUND_MAX_RUN_SECONDS", "300"))
# A running experiment whose runner has not beaten its heartbeat for this long is marked failed
# (its runner died without a supervisor to say so at once: a `manage.py runner` of its own).
PLAYGROUND_HEARTBEAT_STALE_SECONDS = float(
    os.environ.get("PLAYGROUND_HEARTBEAT_STALE_SECONDS", "30")
)
# Experiment folders under var/experiments are pruned after this many days, or, oldest first,
# while var/experiments holds more than PLAYGROUND_VAR_CAP_MB megabytes.
PLAYGROUND_RETENTION_DAYS = float(os.environ.get("PLAYGROUND_RETENTION_DAYS", "7"))
PLAYGROUND_VAR_CAP_MB = int(os.environ.get("PLAYGROUND_VAR_CAP_MB", "2048"))
