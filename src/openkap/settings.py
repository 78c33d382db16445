"""One settings module, configured by the environment (12-factor).

Helpers fail loudly with ImproperlyConfigured so a misconfigured production
server refuses to start instead of running with an unsafe default.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Literal

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from openkap.core.netaddr import parse_networks

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("OPENKAP_VAR_DIR", Path.cwd() / "var"))


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name}.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from exc


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


DEBUG = env_bool("DEBUG", False)
# Demo mode shows MFA codes on the login page: only ever with DEBUG on.
DEMO_MODE = env_bool("OPENKAP_DEMO", False)
if DEMO_MODE and not DEBUG:
    raise ImproperlyConfigured("OPENKAP_DEMO=true is only allowed with DEBUG=true.")

if DEBUG:
    SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-development-key-do-not-use-in-production")
else:
    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 32 characters when DEBUG is off "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",  # serves the Swagger UI from its own static files, no CDN
    "django_tasks",
    "django_tasks_db",  # the database task backend (docs/adr/0003-task-queue.md)
    "openkap.accounts",
    "openkap.audit",
    "openkap.patients",
    "openkap.pathway",
    "openkap.measures",
    "openkap.tasks",
    "openkap.scheduling",
    "openkap.ledger",
    "openkap.dosing",
    "openkap.pharmacokinetics",
    "openkap.outcomes",
    "openkap.history",
    "openkap.site",
    "openkap.referrals",
    "openkap.web",
    "openkap.api",
    "openkap.fhir",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "openkap.web.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "openkap.accounts.middleware.ActorMiddleware",
    "openkap.web.middleware.LanguageMiddleware",
    "openkap.accounts.middleware.IdleTimeoutMiddleware",
    "openkap.web.middleware.NavCountMiddleware",
    "openkap.accounts.middleware.MfaRequiredMiddleware",
    "openkap.web.middleware.SecurityHeadersMiddleware",
    "openkap.web.middleware.ServiceErrorMiddleware",
]

ROOT_URLCONF = "openkap.urls"
WSGI_APPLICATION = "openkap.wsgi.application"

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
                "openkap.web.context.shell",
            ],
        },
    },
]

# Production keeps each worker's connection open (a new PostgreSQL connection costs about
# a fifth of a chart page) and checks it before reuse, so a restarted database costs one
# failed check, not a failed request. The development server's threads come and go, so
# DEBUG closes connections after each request. Size PostgreSQL's max_connections for
# workers x app servers + task workers (docs/deployment.md).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'openkap.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0 if DEBUG else 600),
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers proceed during a write; IMMEDIATE avoids lock upgrades deadlocking.
    # FULL: a commit is on disk before it returns (NORMAL may lose the last commits, a dose
    # or a ledger entry already confirmed, to a power cut or an OS crash; ADR 0092).
    SQLITE_SYNCHRONOUS = env_str("DATABASE_SQLITE_SYNCHRONOUS", "FULL").upper()
    if SQLITE_SYNCHRONOUS not in {"FULL", "NORMAL"}:
        raise ImproperlyConfigured("DATABASE_SQLITE_SYNCHRONOUS must be FULL (the default) or NORMAL (ADR 0092).")
    DATABASES["default"]["OPTIONS"] = {
        "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={SQLITE_SYNCHRONOUS}; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# A PostgreSQL streaming replica for reports, exports and FHIR bulk reads (openkap.dbrouter):
# only reads inside ``replica_reads()`` go there; writes and everything else stay on the primary.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        env_str("DATABASE_REPLICA_URL"),
        conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
        conn_health_checks=DATABASES["default"]["CONN_HEALTH_CHECKS"],
    )
    if DATABASES["replica"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must name a PostgreSQL database (postgres://...).")
    DATABASE_ROUTERS = ["openkap.dbrouter.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["openkap.accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_URL_PATH = "/accounts/login/"
LOGIN_REDIRECT_URL = "web:home"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sessions: idle timeout (HIPAA automatic logoff) and secure cookies.
IDLE_TIMEOUT_SECONDS = env_int("OPENKAP_IDLE_TIMEOUT_SECONDS", 15 * 60)
# FHIR Bulk Data $export: where the NDJSON files are written, and how long they are kept.
FHIR_EXPORT_DIR = Path(env_str("OPENKAP_FHIR_EXPORT_DIR", str(VAR_DIR / "fhir-exports")))
FHIR_EXPORT_HOURS = env_int("OPENKAP_FHIR_EXPORT_HOURS", 24)
# Keep export files gzip-compressed (about 35 times smaller; sent as they are to clients
# that accept gzip) at the cost of compressing them (ADR 0062).
FHIR_EXPORT_GZIP = env_bool("OPENKAP_FHIR_EXPORT_GZIP", True)
# Django's database sessions, the row read by a compiled read (ADR 0112).
SESSION_ENGINE = "openkap.accounts.sessions"
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Behind the TLS proxy of docs/deployment.md, HTTPS is enforced by default: plain HTTP
# redirects to HTTPS and browsers are told (HSTS, one year) never to try HTTP again.
# Opt out explicitly with SECURE_SSL_REDIRECT=false / SECURE_HSTS_SECONDS=0.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", BEHIND_TLS_PROXY)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 60 * 60 if BEHIND_TLS_PROXY else 0)
# Subdomains and the browsers' preload list bind every host of the domain: each clinic's choice.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Probes from the proxy or a load balancer on the local network may use plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Login throttling: failures within the window lock the account (until an admin
# unlocks it or the lock expires); past a free allowance per client address, each
# failure doubles the wait before that address's next try (accounts.services).
LOGIN_FAILURE_WINDOW_SECONDS = env_int("OPENKAP_LOGIN_WINDOW_SECONDS", 15 * 60)
LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("OPENKAP_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
LOGIN_MAX_FAILURES_PER_IP = env_int("OPENKAP_LOGIN_MAX_FAILURES_PER_IP", 20)
LOGIN_BACKOFF_BASE_SECONDS = env_int("OPENKAP_LOGIN_BACKOFF_BASE_SECONDS", 1)
LOGIN_BACKOFF_MAX_SECONDS = env_int("OPENKAP_LOGIN_BACKOFF_MAX_SECONDS", 15 * 60)

# The reverse proxies in front of the application (addresses or networks). Only when a
# request comes from one of them is X-Forwarded-For read, right to left, for the
# client's address (openkap.core.netaddr); without this every client behind nginx
# has nginx's address and one attacker's failures would slow down the whole clinic.
try:
    TRUSTED_PROXIES = parse_networks(env_list("OPENKAP_TRUSTED_PROXIES", ""))
except ValueError as exc:
    raise ImproperlyConfigured(f"OPENKAP_TRUSTED_PROXIES: {exc}.") from None
# Public referral forms (docs/adr/0039-referrals.md): the clinic of /refer/ when the address
# names none, and the abuse limits: stored referrals per client address and window, per
# email and day (a suicide-risk answer is stored regardless), the least time a person takes
# to fill the form, and the referral letter's size.
REFERRAL_ORGANIZATION = env_str("OPENKAP_REFERRAL_ORGANIZATION", "")
REFERRAL_MAX_PER_IP = env_int("OPENKAP_REFERRAL_MAX_PER_IP", 10)
REFERRAL_WINDOW_SECONDS = env_int("OPENKAP_REFERRAL_WINDOW_SECONDS", 60 * 60)
REFERRAL_MAX_PER_EMAIL = env_int("OPENKAP_REFERRAL_MAX_PER_EMAIL", 3)
REFERRAL_EMAIL_WINDOW_SECONDS = env_int("OPENKAP_REFERRAL_EMAIL_WINDOW_SECONDS", 24 * 60 * 60)
REFERRAL_MIN_FILL_SECONDS = env_int("OPENKAP_REFERRAL_MIN_FILL_SECONDS", 8)
REFERRAL_MAX_LETTER_BYTES = env_int("OPENKAP_REFERRAL_MAX_LETTER_BYTES", 5 * 1024 * 1024)
ACCOUNT_LOCK_SECONDS = env_int("OPENKAP_ACCOUNT_LOCK_SECONDS", 60 * 60)
# Wrong MFA codes count toward the account's limit above; a few in one session also
# end the session, so the password is needed again.
MFA_MAX_FAILURES_PER_SESSION = env_int("OPENKAP_MFA_MAX_FAILURES_PER_SESSION", 3)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "OpenKAP <no-reply@localhost>")
SITE_URL = env_str("OPENKAP_SITE_URL", "http://127.0.0.1:8000")

# Patients and prospective patients read English or Spanish (the public site, the
# portal, questionnaires, emails, their PDFs); staff pages are English. The language
# comes from the patient's stored preference, else the switcher's cookie, else the
# browser (docs/adr/0038-english-and-spanish.md).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]  # the project's own templates; each app keeps its own locale/
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE: Literal["Lax", "Strict", "None"] = "Lax"
LANGUAGE_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)


def _public_sites(raw: list[str]) -> dict[str, str]:
    sites = {}
    for entry in raw:
        host, _, slug = entry.rpartition("=")
        sites[(host or "*").lower()] = slug
    return sites


# Which organisation's public pages a host name serves: "clinic.example.org=slug,..."
# or a bare slug for every host (openkap.site.selectors.public_organization).
PUBLIC_SITES = _public_sites(env_list("OPENKAP_PUBLIC_SITES", ""))
TIME_ZONE = env_str("TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

NINJA_PAGINATION_PER_PAGE = 50

# Predicted PK curves with their charts (about 0.3 s of CPU each) are kept on disk, shared
# by the server's worker processes and kept across restarts; the cache key names the
# model's version, so a new release draws new curves (pharmacokinetics.predictions).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The layout's navigation and time-out dialog as rendered, keyed by everything they show
    # (each link's address, label, current mark and count; the language): HTML that any app
    # server renders the same for the same key, kept per process, not state (ADR 0120).
    "fragments": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fragments",
                  "OPTIONS": {"MAX_ENTRIES": 2000}},
    "pk": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
           "LOCATION": str(VAR_DIR / "cache" / "pk-curves"), "TIMEOUT": None,
           "OPTIONS": {"MAX_ENTRIES": 5000}},
}

# Background work (appointment reminders) in a database-backed queue: no broker.
# Run the worker with `openkap db_worker` (docs/adr/0003-task-queue.md).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# Field encryption at rest (psychotherapy notes, TOTP secrets): comma-separated Fernet keys; the
# first encrypts, every one decrypts, so a new key goes first and the old ones stay
# until `openkap rotate-field-keys` has re-encrypted (docs/adr/0005-field-encryption.md).
# Development derives a key from SECRET_KEY; production refuses to start without keys.
OPENKAP_FIELD_KEYS = env_list("OPENKAP_FIELD_KEYS", "")
if not OPENKAP_FIELD_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "OPENKAP_FIELD_KEYS must be set when DEBUG is off (psychotherapy notes and MFA secrets "
            "are encrypted with it). Generate a key with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    OPENKAP_FIELD_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(b"openkap-field-key:" + SECRET_KEY.encode()).digest()).decode()
    ]
# Signed checkpoints of the ledger's and the audit log's hash chains (openkap.checkpoints):
# the key must live outside the database (and its backups), so whoever can rewrite the
# database cannot forge a checkpoint. Development derives one from SECRET_KEY; production
# commands that sign refuse to run without it (docs/deployment.md).
OPENKAP_CHECKPOINT_KEY = env_str("OPENKAP_CHECKPOINT_KEY", "") or (
    hashlib.sha256(b"openkap-checkpoint-key:" + SECRET_KEY.encode()).hexdigest() if DEBUG else ""
)
OPENKAP_CHECKPOINT_DIR = Path(env_str("OPENKAP_CHECKPOINT_DIR", str(VAR_DIR / "checkpoints")))
# Audit events are sealed into the hash chain in batches once they are this old, so a
# transaction still open cannot commit an event into a range already sealed.
AUDIT_SEAL_DELAY_SECONDS = env_int("OPENKAP_AUDIT_SEAL_DELAY_SECONDS", 120)
# `openkap backup --encrypt`: a Fernet key, kept apart from the backups it protects.
OPENKAP_BACKUP_KEY = env_str("OPENKAP_BACKUP_KEY", "")
if OPENKAP_BACKUP_KEY:
    try:
        Fernet(OPENKAP_BACKUP_KEY)
    except ValueError:
        raise ImproperlyConfigured("OPENKAP_BACKUP_KEY is not a Fernet key (32 url-safe base64-encoded bytes).") from None

for _number, _key in enumerate(OPENKAP_FIELD_KEYS, start=1):
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            f"OPENKAP_FIELD_KEYS entry {_number} is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from None
