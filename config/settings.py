"""Settings for the staff notification tool.

Everything is read from environment variables (see README.md for the table and
.env.example for a template). Each has a default that works on a laptop with
nothing but Python: SQLite, an on-disk Celery broker and a local mail outbox.
When DEBUG is off, the settings that must not keep a development default are
required and checked here, so a bad deployment fails at start-up naming the
variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from common.languages import EU_LANGUAGES, complete_django_lang_info
from config.env import env_bool, env_float, env_int, env_list, env_str
from directory.ldap.attributes import attribute_map
from directory.ldap.schedule import sync_schedule
from employees.timezones import zone_setting_parse

BASE_DIR = Path(__file__).resolve().parent.parent
# Writable state of a default (no server) install: SQLite file, broker
# folders, mail outbox, uploaded files.
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite cannot create its folder

DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789abcdef"  # noqa: S105 (development only, refused when DEBUG is off)
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"]
)


def _check_production() -> None:
    if SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off"
        )
    if not env_str("ALLOWED_HOSTS"):
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must be set when DEBUG is off (e.g. notify.example.com)"
        )
    if not env_str("SITE_URL"):
        raise ImproperlyConfigured(
            "SITE_URL must be set when DEBUG is off (e.g. https://notify.example.com)"
        )


_site = urlparse(SITE_URL)
if _site.scheme not in ("http", "https") or not _site.netloc:
    raise ImproperlyConfigured(
        f"SITE_URL must be an absolute http(s) address, not {SITE_URL!r}"
    )
if not DEBUG:
    _check_production()

INSTALLED_APPS = [
    # Our admin site (console/sites.py): rate-limited login, optional 2FA.
    "console.apps.NotifyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "anymail",
    "django_otp",
    "audit.apps.TOTPConfig",
    "audit.apps.StaticConfig",
    "employees",
    "notifications",
    "audit",
    "console",
    "events",
    "directory",
    "api",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The four config.middleware classes are Django's and django-otp's,
    # skipped on the public pages (personal links, /verify/).
    "config.middleware.SessionMiddleware",
    # Django's, with the admin in ADMIN_LANGUAGES (below).
    "config.middleware.LocaleMiddleware",
    # A NUL in the query string: a 400 in the reader's language.
    "config.middleware.nul_refused",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.middleware.AuthenticationMiddleware",
    "config.middleware.OTPMiddleware",
    "config.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# Database: SQLite file by default, anything dj-database-url understands
# (postgres://user@host/db) when DATABASE_URL is set.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web, worker and beat against one SQLite file: WAL lets
    # readers go on during a write, IMMEDIATE takes the write lock at BEGIN
    # so two writers queue (timeout) instead of failing with "database is
    # locked" half way through a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    if env_str("TEST_SQLITE_NAME"):
        # Tests that start a worker process need a test database on disk.
        DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_SQLITE_NAME")}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Prepared statements for the queries that ask for them (the personal
    # link's lookup, notifications/acknowledgements/services.py): prepared on a
    # connection after psycopg's default of 5 runs, so a connection closed
    # after each request (DATABASE_CONN_MAX_AGE=0) never pays for preparing.
    # Off behind a pooler in transaction mode that does not handle them
    # (PgBouncer before 1.21, or without max_prepared_statements).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if env_bool("DATABASE_PREPARED_STATEMENTS", True) else None
    )
    # Querysets read with .iterator() use a server-side cursor, which lives
    # across statements; behind a pooler in transaction mode turn them off
    # (Django then fetches in chunks from an ordinary cursor).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = not env_bool(
        "DATABASE_SERVER_SIDE_CURSORS", True
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: the 24 official EU languages (common/languages.py),
# narrowed by LANGUAGES="fr,en,de" to the ones an organisation uses.
complete_django_lang_info()  # Maltese, which Django's table lacks
_LANGUAGE_NAMES = dict(EU_LANGUAGES)
_languages = env_list("LANGUAGES", [code for code, _name in EU_LANGUAGES])
_unknown = [code for code in _languages if code not in _LANGUAGE_NAMES]
if _unknown or not _languages:
    raise ImproperlyConfigured(
        f"LANGUAGES must list codes among {', '.join(_LANGUAGE_NAMES)}; "
        f"unknown: {', '.join(_unknown) or '(empty list)'}"
    )
LANGUAGES = [(code, _LANGUAGE_NAMES[code]) for code in dict.fromkeys(_languages)]
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "fr")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(
        f"LANGUAGE_CODE must be one of LANGUAGES ({', '.join(dict(LANGUAGES))}), "
        f"not {LANGUAGE_CODE!r}"
    )
# The admin's own strings exist in French and English (the employees' pages
# and mails in all 24): the admin speaks the first of these the browser
# accepts, else the first one (LANGUAGE_CODE when it is one of them).
ADMIN_LANGUAGES = sorted(
    (code for code in ("fr", "en") if code in dict(LANGUAGES)),
    key=lambda code: code != LANGUAGE_CODE,
) or [LANGUAGE_CODE]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Date formats Django lacks or writes with a 12-hour clock (en, el, mt, ...).
FORMAT_MODULE_PATH = ["common.formats"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Paris")
# A person's zone: their own, else their country's or site's from here, else
# TIME_ZONE (employees/timezones.py). "PL=Europe/Warsaw,Lisbon=Europe/Lisbon".
try:
    EMPLOYEE_TIME_ZONES = zone_setting_parse(env_str("EMPLOYEE_TIME_ZONES", ""))
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Uploaded staff files can be large; Django streams them to a temp file.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Celery: an on-disk broker by default (no server), Redis when set.
# "localhost" only keeps kombu from warning "No hostname was supplied" in
# every process; plain filesystem:// works the same.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "control_folder": str(_BROKER_DIR / "control"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
        # Seconds between two looks at the queue folder (kombu's default of
        # 1 s adds up to a second to every task; a listdir is cheap).
        "polling_interval": 0.2,
    }
    # kombu does not create these folders itself: a first worker or web
    # process on a fresh clone would fail on a missing directory.
    for _folder in ("queue", "control", "processed"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    _default_result_backend = f"file://{VAR_DIR / 'celery-results'}"
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
    _default_result_backend = CELERY_BROKER_URL
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", _default_result_backend)
if CELERY_RESULT_BACKEND.startswith("file://"):
    # Celery's file result backend refuses to start on a missing folder.
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(
        parents=True, exist_ok=True
    )
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# Celery's Django fixup closes every database connection before and after
# each task unless this is set, whatever DATABASE_CONN_MAX_AGE says: a new
# PostgreSQL connection per chunk of messages. Set so high that it never
# does; config/celery.py closes connections around each task the way Django
# does around a web request, honouring DATABASE_CONN_MAX_AGE.
CELERY_DB_REUSE_MAX = 2**62
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = env_str(
    "CELERY_BEAT_SCHEDULE_FILENAME", str(VAR_DIR / "celerybeat-schedule")
)

# Mail: Django's own names. The default writes every message to its own .eml
# file in var/outbox/ so the demo's mail can be read without a server.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "notifications.outbox.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "outbox"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "dpo@example.com")
# Display name of the sender ("Acme — Data protection <dpo@…>"); empty: none.
EMAIL_FROM_NAME = env_str("EMAIL_FROM_NAME", "")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
# django-anymail: every ANYMAIL_<NAME> variable becomes ANYMAIL["<NAME>"],
# e.g. ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_MAILGUN_API_KEY,
# ANYMAIL_WEBHOOK_SECRET.
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}
EMAIL_RATE_LIMIT = env_float("EMAIL_RATE_LIMIT", 0.0, minimum=0.0)
# Sending pipeline (notifications/delivery/: dispatch.py, send.py; knobs in policy.py).
SEND_CHUNK_SIZE = env_int("SEND_CHUNK_SIZE", 100, minimum=1)
# ESP batch sending: name/id of a pass-through template stored at the ESP
# ({{subject}}, {{{body_text}}}, {{{body_html}}}); empty = one call per message.
EMAIL_BATCH_TEMPLATE = env_str("EMAIL_BATCH_TEMPLATE", "")
# Messages per ESP batch call (Postmark's per-call limit).
EMAIL_BATCH_SIZE = env_int("EMAIL_BATCH_SIZE", 500, minimum=1)
SEND_MAX_ATTEMPTS = env_int("SEND_MAX_ATTEMPTS", 8, minimum=1)
SEND_RETRY_BASE = env_float("SEND_RETRY_BASE", 30.0, minimum=0.0)
SEND_RETRY_MAX = env_float("SEND_RETRY_MAX", 1800.0, minimum=0.0)
# Recovery from faults (ARCHITECTURE.md, "Faults and recovery"): a chunk the
# broker lost comes back a lease after its queue emptied, a dead worker's
# rows a claim timeout after its last heartbeat (every third of it), and a
# worker waits up to SEND_DB_OUTAGE_WAIT for a database that went away.
SEND_ENQUEUE_LEASE = env_float("SEND_ENQUEUE_LEASE", 60.0, minimum=1.0)
SEND_CLAIM_TIMEOUT = env_float("SEND_CLAIM_TIMEOUT", 60.0, minimum=1.0)
SEND_DB_OUTAGE_WAIT = env_float("SEND_DB_OUTAGE_WAIT", 60.0, minimum=0.0)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")

# Staff import: files up to this size are analysed in the request; larger
# ones go to a Celery worker with a progress bar.
IMPORT_SYNC_MAX_BYTES = env_int("IMPORT_SYNC_MAX_BYTES", 1_000_000, minimum=0)
# What a staff file may expand to (employees/importing/limits.py); more is
# refused before it is parsed. Sized for the largest employer there is
# (about 2.1 million staff) with room to spare: its full list in CSV or XLSX
# fits; Excel's own cell limit is 32,767 characters.
IMPORT_MAX_UNCOMPRESSED_BYTES = env_int(
    "IMPORT_MAX_UNCOMPRESSED_BYTES", 2_000_000_000, minimum=1
)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 2_500_000, minimum=1)
IMPORT_MAX_COLUMNS = env_int("IMPORT_MAX_COLUMNS", 500, minimum=1)
IMPORT_MAX_CELL_CHARS = env_int("IMPORT_MAX_CELL_CHARS", 32_767, minimum=256)
# A full-list import deactivating more than this share of the active staff
# (a truncated export, the wrong file) is confirmed only by typing how many
# people it deactivates (admin) or with --confirm-deactivate N (command).
IMPORT_DEACTIVATE_WARN_PERCENT = env_int(
    "IMPORT_DEACTIVATE_WARN_PERCENT", 10, minimum=0
)

# The LDAP / Active Directory pull (directory/ldap/, `manage.py
# sync_directory`): a full list read with paged searches, written through
# the staff import's rules. Off while DIRECTORY_LDAP_URL is empty.
DIRECTORY_LDAP_URL = env_str("DIRECTORY_LDAP_URL", "")
if DIRECTORY_LDAP_URL and not DIRECTORY_LDAP_URL.lower().startswith(
    ("ldap://", "ldaps://")
):
    raise ImproperlyConfigured(
        f"DIRECTORY_LDAP_URL must start with ldap:// or ldaps://, not {DIRECTORY_LDAP_URL!r}"
    )
DIRECTORY_LDAP_START_TLS = env_bool("DIRECTORY_LDAP_START_TLS", False)
if DIRECTORY_LDAP_START_TLS and DIRECTORY_LDAP_URL.lower().startswith("ldaps://"):
    raise ImproperlyConfigured(
        "DIRECTORY_LDAP_START_TLS is for ldap:// URLs; ldaps:// is already TLS"
    )
DIRECTORY_LDAP_CA_FILE = env_str("DIRECTORY_LDAP_CA_FILE", "")
DIRECTORY_LDAP_BIND_DN = env_str("DIRECTORY_LDAP_BIND_DN", "")
DIRECTORY_LDAP_BIND_PASSWORD = env_str("DIRECTORY_LDAP_BIND_PASSWORD", "")
DIRECTORY_LDAP_BASE_DN = env_str("DIRECTORY_LDAP_BASE_DN", "")
DIRECTORY_LDAP_FILTER = env_str(
    "DIRECTORY_LDAP_FILTER", "(&(objectClass=inetOrgPerson)(mail=*))"
)
# Which LDAP attributes feed which field, over the defaults
# (directory/ldap/attributes.py), e.g. "hr_id=employeeID;country=c".
try:
    DIRECTORY_LDAP_ATTRIBUTES = attribute_map(env_str("DIRECTORY_LDAP_ATTRIBUTES", ""))
except ValueError as exc:
    raise ImproperlyConfigured(f"DIRECTORY_LDAP_ATTRIBUTES: {exc}") from None
DIRECTORY_LDAP_PAGE_SIZE = env_int("DIRECTORY_LDAP_PAGE_SIZE", 500, minimum=1)
DIRECTORY_LDAP_TIMEOUT = env_float("DIRECTORY_LDAP_TIMEOUT", 10.0, minimum=0.1)
# A scheduled sync imports the valid entries and reports the others (as
# --skip-invalid) instead of refusing the whole directory for one bad entry.
DIRECTORY_SYNC_SKIP_INVALID = env_bool("DIRECTORY_SYNC_SKIP_INVALID", False)
# When beat runs the sync: empty (off), seconds ("3600") or a crontab
# ("15 2 * * *"); read by config/celery.py.
DIRECTORY_SYNC_SCHEDULE = env_str("DIRECTORY_SYNC_SCHEDULE", "")
sync_schedule(DIRECTORY_SYNC_SCHEDULE)  # raises ImproperlyConfigured

# SCIM 2.0 provisioning (directory/scim/, /scim/v2/): Entra ID or Okta push
# users with a bearer token from `manage.py scim_token NAME`.
# The SCIM attribute read as the country / site, as a SCIM path, e.g.
# 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division'.
SCIM_COUNTRY_ATTRIBUTE = env_str(
    "SCIM_COUNTRY_ATTRIBUTE", 'addresses[type eq "work"].country'
)
# Failed bearer-token attempts per client address within the window (seconds)
# before it gets 429 until the window ends.
SCIM_AUTH_FAILURES_MAX = env_int("SCIM_AUTH_FAILURES_MAX", 10, minimum=1)
SCIM_AUTH_FAILURES_WINDOW = env_int("SCIM_AUTH_FAILURES_WINDOW", 300, minimum=1)

# Cache: Redis when CACHE_URL is set (shared by every web process, so the
# acknowledgement page's rate limit holds across gunicorn workers and
# machines), else a per-process memory cache (fine for one process).
CACHE_URL = env_str("CACHE_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Personal acknowledgement links (notifications/acknowledgements/services.py).
# Key of the links' HMAC; empty: SECRET_KEY. Changing it kills every link.
ACK_TOKEN_KEY = env_str("ACK_TOKEN_KEY")
# A finished campaign's links keep working this many days after the later of
# its deadline and its end, then show a "link expired" page.
ACK_LINK_DAYS_AFTER_FINISH = env_int("ACK_LINK_DAYS_AFTER_FINISH", 30, minimum=0)

# The dashboard (notifications/dashboard/snapshots.py): campaigns up to this
# many people are counted on every request; larger ones are shown from a
# snapshot at most DASHBOARD_REFRESH_SECONDS old, counted again by a worker.
DASHBOARD_LIVE_MAX_RECIPIENTS = env_int(
    "DASHBOARD_LIVE_MAX_RECIPIENTS", 200_000, minimum=0
)
DASHBOARD_REFRESH_SECONDS = env_int("DASHBOARD_REFRESH_SECONDS", 15, minimum=1)
# Store the client's address and user agent with each acknowledgement. Off:
# data minimisation (GDPR art. 5(1)(c)); time, answer and version suffice.
ACK_RECORD_CLIENT_INFO = env_bool("ACK_RECORD_CLIENT_INFO", False)
# Per client address (IPv6: per /64) and per minute: requests to the link
# and verify pages, and bad links (unknown tokens or references). Generous
# overall because a whole office may share one address; strict on failures
# because only guessing produces them. 0 turns a limit off.
ACK_RATE_LIMIT = env_int("ACK_RATE_LIMIT", 300, minimum=0)
ACK_RATE_LIMIT_FAILURES = env_int("ACK_RATE_LIMIT_FAILURES", 20, minimum=0)
# Behind a reverse proxy, the header holding the client address (its last
# entry is used), e.g. HTTP_X_FORWARDED_FOR; empty: REMOTE_ADDR.
ACK_CLIENT_IP_HEADER = env_str("ACK_CLIENT_IP_HEADER")

# Production hardening, on whenever DEBUG is off.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", not DEBUG) else None
)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int(
    "SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])
# A refused POST (no form token, cookies blocked) gets a page in the
# person's language saying what to do, not Django's technical one.
CSRF_FAILURE_VIEW = "notifications.acknowledgements.views.csrf_failure"

# Personal links are credentials: the filter masks /a/<token>/ in every
# record of the loggers that print request paths (404 and 500 reports,
# runserver's lines); gunicorn's access log has its own logger class
# (notifications.logfilters.GunicornLogger).
_MASKED = {"filters": ["mask_tokens"]}
# Admin login: failed attempts per user name and per address within the
# lockout window (counted in the cache), and two-factor (django-otp): users
# with a registered device always give a code; OTP_REQUIRED makes it
# mandatory for everyone.
OTP_REQUIRED = env_bool("OTP_REQUIRED", False)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Staff notifications")
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 20, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)

# Admin sign-in through the company's identity provider (OpenID Connect,
# console/sso.py): on when OIDC_ISSUER is set. OIDC_ROLE_MAP maps the
# provider's group names or ids to our roles: "dpo-team=DPO,auditors=Viewer".
OIDC_ISSUER = env_str("OIDC_ISSUER").rstrip("/")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_ROLE_CLAIM = env_str("OIDC_ROLE_CLAIM", "groups")
OIDC_ROLE_MAP = env_str("OIDC_ROLE_MAP")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "SSO")
OIDC_REQUIRE_ACR = env_list("OIDC_REQUIRE_ACR", [])
# false: no password form for anyone, except an account given a few minutes
# by `manage.py break_glass USER` (audited).
ADMIN_PASSWORD_LOGIN = env_bool("ADMIN_PASSWORD_LOGIN", True)
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_ROLE_MAP):
    raise ImproperlyConfigured(
        "OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_ROLE_MAP must be set too"
    )

# Retention (console/retention.py, `manage.py purge_expired`, daily task).
RETENTION_DAYS_AFTER_CAMPAIGN = env_int("RETENTION_DAYS_AFTER_CAMPAIGN", 365, minimum=1)
RETENTION_DAYS_INACTIVE_EMPLOYEE = env_int(
    "RETENTION_DAYS_INACTIVE_EMPLOYEE", 365, minimum=1
)
# Four-eyes launch: a launch asked for by one user waits until a second DPO
# approves it on the campaign's dashboard (both recorded in the audit log).
LAUNCH_REQUIRES_APPROVAL = env_bool("LAUNCH_REQUIRES_APPROVAL", False)

# Evidence bundles (console/bundle/): signed, optionally timestamped ZIPs an
# auditor verifies alone. The Ed25519 private key (PEM); empty: one generated
# once under VAR_DIR/evidence-keys/. Never put in a bundle.
EVIDENCE_SIGNING_KEY = env_str("EVIDENCE_SIGNING_KEY")
# An RFC 3161 time-stamping authority (e.g. a qualified eIDAS TSA); empty:
# bundles are not timestamped. A TSA that does not answer fails the build.
EVIDENCE_TSA_URL = env_str("EVIDENCE_TSA_URL")
EVIDENCE_TSA_TIMEOUT = env_float("EVIDENCE_TSA_TIMEOUT", 15.0, minimum=1.0)
# Bundles carry employee ids and salted digests instead of names and
# addresses (each record still verifies; the DPO can reveal one person).
EVIDENCE_BUNDLE_PSEUDONYMISE = env_bool("EVIDENCE_BUNDLE_PSEUDONYMISE", False)
# A campaign with at most this many recipients gets its bundle built in the
# request; a larger one by the worker, with progress on the page.
EVIDENCE_BUNDLE_SYNC_MAX_RECIPIENTS = env_int(
    "EVIDENCE_BUNDLE_SYNC_MAX_RECIPIENTS", 2000, minimum=0
)

# Outbound webhooks (events/): Standard Webhooks 1.0, from the outbox.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
WEBHOOK_INCLUDE_PERSONAL_DATA = env_bool("WEBHOOK_INCLUDE_PERSONAL_DATA", False)
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 15.0, minimum=1.0)
WEBHOOK_RETRY_SCHEDULE = [
    float(value)
    for value in env_list(
        "WEBHOOK_RETRY_SCHEDULE",
        ["0", "5", "300", "1800", "7200", "18000", "36000", "50400", "72000", "86400"],
    )
]
WEBHOOK_DISABLE_AFTER = env_float("WEBHOOK_DISABLE_AFTER", 3 * 86400.0, minimum=1.0)
WEBHOOK_SECRET_GRACE = env_float("WEBHOOK_SECRET_GRACE", 86400.0, minimum=0.0)
WEBHOOK_CLAIM_TIMEOUT = env_float("WEBHOOK_CLAIM_TIMEOUT", 120.0, minimum=1.0)
WEBHOOK_BATCH_SIZE = env_int("WEBHOOK_BATCH_SIZE", 500, minimum=1)
WEBHOOK_CONCURRENCY = env_int("WEBHOOK_CONCURRENCY", 8, minimum=1)

# The REST API (api/): Django REST framework, drf-spectacular's OpenAPI schema.
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.BearerKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.RolePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["api.auth.KeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Notify API",
    "DESCRIPTION": "Staff, imports, campaigns and webhooks (Bearer API keys).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.problems_everywhere",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_tokens": {"()": "notifications.acknowledgements.logfilters.MaskTokens"}
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.request": _MASKED,
        "django.security": _MASKED,
        "django.security.csrf": _MASKED,
        "django.server": {**_MASKED, "handlers": ["console"], "propagate": False},
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
