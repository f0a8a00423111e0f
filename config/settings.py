"""Portcullis settings: every deployment value comes from the environment.

The defaults and meanings are the settings table in README.md.
"""

import hashlib
import hmac
import sys
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.log_format import log_format_from_environment
from config.static_headers import static_headers_add

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
            "(at least 50 random characters), or DEBUG=1 for a local run."
        )
    # A fixed key keeps local sessions alive across autoreloads; it never serves production.
    SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-on-0123456789"  # noqa: S105

# The audit chain's HMAC key (audit/chain.py), kept apart from SECRET_KEY so the site's sessions
# and the audit log's integrity can be rotated separately. Retired keys stay in the fallbacks
# for as long as events hashed with them are kept. Local runs (DEBUG) and the test suite derive
# one from SECRET_KEY; anything else refuses to start without it.
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")
AUDIT_CHAIN_KEY_FALLBACKS = env.list("AUDIT_CHAIN_KEY_FALLBACKS", default=[])
if not AUDIT_CHAIN_KEY:
    if not (DEBUG or "pytest" in sys.modules):
        raise ImproperlyConfigured(
            "AUDIT_CHAIN_KEY is not set. Set the AUDIT_CHAIN_KEY environment variable (at least "
            "50 random characters, not the SECRET_KEY), or DEBUG=1 for a local run."
        )
    AUDIT_CHAIN_KEY = hmac.new(
        SECRET_KEY.encode(), b"portcullis audit chain key", hashlib.sha256
    ).hexdigest()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
REDIS_URL = env.str("REDIS_URL", default="")

# Keys for secrets stored in the database (single sign-on client secrets), comma-separated
# Fernet keys: the first encrypts, every one decrypts, so a new key goes first and the old one
# stays after it until `sso_secrets_reencrypt` has run. Unset, one key is derived from
# SECRET_KEY (see docs/sso.md): then rotating SECRET_KEY makes stored secrets unreadable.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])
# Single sign-on: how long to wait for an identity provider, and how long its discovery
# document and signing keys are kept (an unknown key id fetches them again at once).
SSO_HTTP_TIMEOUT = env.float("SSO_HTTP_TIMEOUT", default=5)
SSO_METADATA_CACHE_SECONDS = env.int("SSO_METADATA_CACHE_SECONDS", default=3600)
# The clock skew allowed on an identity provider's tokens (issued at, expiry).
SSO_CLOCK_LEEWAY_SECONDS = 60
# Back-channel logout (sso/views.py): a provider's logout token is good for this many seconds
# after it was issued (plus the leeway), and its `jti` is remembered that long so it is good
# once. A client address whose logout tokens are refused this many times in a minute gets 429
# for the rest of the minute, before any signature is checked; tokens that pass are never
# limited, so a provider signing many people out at once is never turned away.
SSO_LOGOUT_TOKEN_MAX_AGE_SECONDS = 120
SSO_LOGOUT_REFUSALS_PER_IP = env.int("SSO_LOGOUT_REFUSALS_PER_IP", default=20)
# Off in production: a provider's discovery document, token endpoint and keys must be https://
# on public addresses, so an owner can't aim the site at its own network or cloud metadata. On,
# http:// and private, loopback and link-local addresses are allowed too (tests, a provider
# inside one's network).
SSO_ALLOW_LOCAL_PROVIDERS = env.bool("SSO_ALLOW_LOCAL_PROVIDERS", default=False)
# The DNS server that domain verification asks for TXT records, as an IP address and port
# ("10.0.0.2:53", "[::1]:53" for IPv6; the port defaults to 53). Empty: the system's resolvers
# (/etc/resolv.conf). A resolver that validates DNSSEC makes a forged answer harder
# (docs/sso.md). Checked at start (sso.E002).
DNS_RESOLVER = env.str("DNS_RESOLVER", default="")

INSTALLED_APPS = [
    "teams.apps.PortcullisAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # django-axes, named "Lockout" in the admin.
    "accounts.apps.LockoutConfig",
    "csp",
    "accounts",
    "teams",
    "mfa",
    "outbox",
    "audit",
    "sso",
    "support",
    "reviews",
    "provisioning",
]

MIDDLEWARE = [
    # First, so every log line of the request carries its id (config/request_context.py).
    "config.request_context.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, so static files are covered too: refuses cross-site requests that
    # aren't navigations (Fetch Metadata), marks every answer same-origin (config/cross_site.py).
    "config.cross_site.CrossSiteMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions (it reads the chosen language from the cookie) and before CommonMiddleware.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.PendingSignInMiddleware",
    "mfa.middleware.SecondStepMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "teams.middleware.SessionLimitsMiddleware",
    "teams.middleware.AccessListMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.PasswordChangeRequiredMiddleware",
    # Last, so it can swap any response for the lock notice when a sign-in step hits the lock.
    "axes.middleware.AxesMiddleware",
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
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.site",
                "teams.context_processors.admin_access",
            ],
            # `{% reuse %}`: fragments rendered once per process (config/fragments.py).
            "libraries": {"reuse": "config.fragments"},
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# On PostgreSQL, the role that migrates and owns the tables, when the site runs as another
# (`manage.py database_roles`, docs/audit.md "Database roles"); the Procfile's release uses it.
MIGRATE_DATABASE_URL = env.str("MIGRATE_DATABASE_URL", default="")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # A connection per request costs PostgreSQL a new backend process and the web worker a
    # connect, on every sign-in: keep it for a minute (`?conn_max_age=0` in DATABASE_URL closes
    # it after each request), checked before reuse so a restarted server or pooler costs no error.
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Each transaction takes SQLite's write lock when it begins, so read-then-write sections
    # (lockout counters, mail sending) are serialised instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is optional: without it the cache is per-process memory and Celery runs tasks in-process.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    # The database stays the source of truth so a Redis restart signs nobody out.
    SESSION_ENGINE = "teams.session_store"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # A per-process cache in front of sessions would let a revoked session live on in other
    # worker processes, so without a shared cache sessions are read from the database.
    SESSION_ENGINE = "teams.session_db"

AUTH_USER_MODEL = "accounts.User"
# Email + password and scopes (teams.backends.ScopeBackend), behind the sign-in lockout.
AUTHENTICATION_BACKENDS = ["accounts.backends.SignInBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    # The bundled list of the most common passwords, checked offline (docs/credentials.md). No
    # all-digits rule: length and lists, never composition rules (a long random number is fine).
    {"NAME": "accounts.validators.CommonPasswordValidator"},
    {"NAME": "accounts.validators.ContextWordsValidator"},
    {"NAME": "accounts.validators.PersonalWordsValidator"},
    {"NAME": "accounts.validators.PasswordHistoryValidator"},
    # Last: it is the only one that asks another machine (see accounts/breached.py).
    {"NAME": "accounts.validators.BreachedPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
# An invitation's set-password link (teams/tokens.py): single use like a reset link, but it
# lasts long enough for someone invited in the evening to open it the next morning.
# SCIM provisioning (docs/scim.md): requests a minute per provisioning token, and the largest
# request body accepted (RFC 7644 §3.12: 413 beyond it).
SCIM_RATE_LIMIT_PER_MINUTE = env.int("SCIM_RATE_LIMIT_PER_MINUTE", default=600)
SCIM_MAX_REQUEST_BYTES = env.int("SCIM_MAX_REQUEST_BYTES", default=256 * 1024)
INVITATION_TIMEOUT = env.int("INVITATION_TIMEOUT", default=3 * 24 * 3600)

LOCKOUT_FAILURES = env.int("LOCKOUT_FAILURES", default=5)
LOCKOUT_MINUTES = env.float("LOCKOUT_MINUTES", default=15)
LOCKOUT_IP_FAILURES = env.int("LOCKOUT_IP_FAILURES", default=50)
RESET_LIMIT_PER_ACCOUNT = env.int("RESET_LIMIT_PER_ACCOUNT", default=5)
RESET_LIMIT_PER_IP = env.int("RESET_LIMIT_PER_IP", default=20)
# Breached passwords (accounts/breached.py): a Pwned Passwords range API, asked with k-anonymity.
# Empty: off. Production sets https://api.pwnedpasswords.com/range/ or its own mirror.
BREACHED_PASSWORDS_URL = env.str("BREACHED_PASSWORDS_URL", default="")
if BREACHED_PASSWORDS_URL and not BREACHED_PASSWORDS_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(
        "BREACHED_PASSWORDS_URL must be an http(s) address such as "
        "https://api.pwnedpasswords.com/range/, or empty to turn the check off."
    )
BREACHED_PASSWORDS_TIMEOUT = env.float("BREACHED_PASSWORDS_TIMEOUT", default=2.0)

# Second factors (the mfa app). Authenticator codes use django-otp's TOTPDevice defaults:
# 30-second steps, 6 digits, one step (30 s) either side of the server's clock (ASVS 5.0 V6.5.5).
# No drift tracking: with it, each code one step off moves the accepted window a step further,
# so over many sign-ins it could wander arbitrarily far from the real time.
OTP_TOTP_SYNC = False
# django-otp's own per-device throttle is off (factor 0). With it on, one mistyped code made the
# next, right code wait a second and be refused as "too many wrong codes". Every code already
# takes an account lockout slot before it is checked (accounts.proofs.secret_check), so
# LOCKOUT_FAILURES wrong codes lock the account: that is the one brake on guessing, as for
# passwords.
OTP_TOTP_THROTTLE_FACTOR = 0
MFA_ISSUER = "Portcullis"
MFA_BACKUP_CODE_THROTTLE_FACTOR = 0
MFA_FRESH_PROOF_MINUTES = 5
# The owners' high-impact settings (single sign-on, the tenant policy, relaxing a role's MFA
# requirement, audit webhooks, the full audit export) ask for a proof this recent (teams/proofs.py).
HIGH_IMPACT_PROOF_MINUTES = env.int("HIGH_IMPACT_PROOF_MINUTES", default=5)
# How long a sign-in may wait at its steps after the password (second factor, enrolment, a new
# password) before it must start again.
PENDING_SIGN_IN_MINUTES = 15
MFA_SETUP_MINUTES = 15
# Passkeys (mfa/passkeys): the relying party is SITE_URL's host, the only origin its address. A
# challenge is good for one ceremony and this many seconds; the browser is given as long.
PASSKEY_CHALLENGE_SECONDS = 300
# Operators (superusers, no tenant) must sign in with a passkey when this is on, as people of a
# role that requires a phishing-resistant factor do.
OPERATORS_REQUIRE_PASSKEY = env.bool("OPERATORS_REQUIRE_PASSKEY", default=False)

# django-axes keeps the lockout counters (its AccessAttempt rows, admin and axes_reset commands);
# accounts/lockout.py does the counting. See docs/credentials.md.
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout_notice"
AXES_CLIENT_IP_CALLABLE = "audit.client.client_ip"
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.email_key_from_credentials"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A callable limit: the account and the IP have different limits, so axes' admin shows no
# single-limit "status" column that would be wrong for one of them.
AXES_FAILURE_LIMIT = "accounts.lockout.account_failure_limit"
AXES_COOLOFF_TIME = timedelta(minutes=LOCKOUT_MINUTES)
AXES_USE_ATTEMPT_EXPIRATION = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

LANGUAGE_CODE = "en"
# The browser's Accept-Language picks one of these, or the switcher in the footer does.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date-time format across the site and the admin: "30 Nov 2026, 14:05 UTC" (config/formats).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Tests and `make run` serve straight from the finders, so no collectstatic step is needed there.
WHITENOISE_USE_FINDERS = DEBUG or env.bool("WHITENOISE_USE_FINDERS", default=False)
# A page's framing, CSP, nosniff and same-origin headers on static files too (an SVG is a
# document): config/static_headers.py.
WHITENOISE_ADD_HEADERS_FUNCTION = static_headers_add

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Portcullis <no-reply@localhost>")
# People's addresses under the names kept for testing and documentation (.test, .example) are
# refused unless this is on: for test suites and the demo, never for real tenants.
EMAIL_ALLOW_TEST_DOMAINS = env.bool("EMAIL_ALLOW_TEST_DOMAINS", default=False)

# Security headers and cookies. USE_TLS switches the TLS-only ones on together.
USE_TLS = env.bool("USE_TLS", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = USE_TLS
CSRF_COOKIE_SECURE = USE_TLS
LANGUAGE_COOKIE_SECURE = USE_TLS
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Under TLS every cookie the site sets carries the `__Host-` prefix (ASVS 5.0 V3.3.1, V3.3.3): a
# browser keeps such a cookie only when it is Secure, for path `/` and with no Domain, so neither
# a sibling subdomain nor a plain-HTTP page can plant or overwrite it. Each is named here, and
# nothing reads them by name but Django and the one module that sets each.
COOKIE_NAME_PREFIX = "__Host-" if USE_TLS else ""
SESSION_COOKIE_NAME = f"{COOKIE_NAME_PREFIX}sessionid"
CSRF_COOKIE_NAME = f"{COOKIE_NAME_PREFIX}csrftoken"
LANGUAGE_COOKIE_NAME = f"{COOKIE_NAME_PREFIX}django_language"
# Django's messages: a cookie, the session for what doesn't fit (config/messages.py).
MESSAGE_STORAGE = "config.messages.MessageStorage"
MESSAGES_COOKIE_NAME = f"{COOKIE_NAME_PREFIX}messages"
# The person's tenant, remembered by this browser after a sign-in (accounts/views.py).
REMEMBERED_TENANT_COOKIE_NAME = f"{COOKIE_NAME_PREFIX}portcullis_tenant"
# The token of a browser remembered for the second sign-in step
# (teams/services/remembered_browsers.py).
REMEMBERED_BROWSER_COOKIE_NAME = f"{COOKIE_NAME_PREFIX}remembered_browser"
SECURE_SSL_REDIRECT = USE_TLS
SECURE_HSTS_SECONDS = 31536000 if USE_TLS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = USE_TLS
SECURE_HSTS_PRELOAD = USE_TLS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [SITE_URL]
# Audits the failure (audit/refusals.py), then answers with Django's own page.
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        # Violations are reported (config/csp_reports.py): `report-to` names the endpoint in
        # the Reporting-Endpoints header, `report-uri` for browsers without the Reporting API.
        "report-uri": ["/csp-report/"],
        "report-to": "csp",
    }
}
CSP_REPORT_ENDPOINT = "csp"
CSP_REPORT_URL = f"{SITE_URL}/csp-report/"
CSP_REPORT_MAX_BYTES = 16 * 1024
CSP_REPORTS_PER_MINUTE = env.int("CSP_REPORTS_PER_MINUTE", default=60)

# Celery: with no broker configured, tasks run in-process so `make run` needs no services.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
# Acknowledged when done, not when received: a task whose worker dies is delivered again. Every
# task is safe to run twice (docs/deploy.md), so one whose pool process is killed goes back to the
# queue at once, and one whose whole worker is killed comes back from Redis after
# TASK_VISIBILITY_TIMEOUT (Celery's default there is an hour).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery 6's default, set so workers don't warn at every lost connection: tasks running when the
# broker goes are stopped and delivered again, like a killed worker's.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# The longest task runs for at most TASK_TIME_LIMIT (prefork workers enforce it; every sweep
# resumes where the last one stopped), so a message unacknowledged for TASK_VISIBILITY_TIMEOUT
# belongs to a dead worker, and Redis hands it to another; workers look for such messages every
# TASK_RESTORE_INTERVAL seconds.
TASK_VISIBILITY_TIMEOUT = env.int("TASK_VISIBILITY_TIMEOUT", default=300)
TASK_TIME_LIMIT = env.int("TASK_TIME_LIMIT", default=240)
TASK_RESTORE_INTERVAL = env.int("TASK_RESTORE_INTERVAL", default=10)
if TASK_TIME_LIMIT >= TASK_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "TASK_TIME_LIMIT must be shorter than TASK_VISIBILITY_TIMEOUT, or a running task would be "
        "delivered to a second worker."
    )
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 2,
    "visibility_timeout": TASK_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": TASK_RESTORE_INTERVAL,
    "unacked_restore_throttle": 1,
}
# Publishing gives up quickly when the broker is down (celery #4296): the request that queued
# the task has already committed its outbox row, and the beat sweep sends it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TIMEZONE = "UTC"
# One beat sends the periodic jobs, however many are started: the others stand by on a Redis lock
# (config/beat.py, docs/deploy.md).
if REDIS_URL:
    CELERY_BEAT_SCHEDULER = "config.beat:SingleBeatScheduler"
# A killed leader is replaced within BEAT_LOCK_SECONDS; a new leader (or one that reaches Redis
# again) sends the BEAT_REPAIR_JOBS at once instead of waiting out their interval.
BEAT_LOCK_SECONDS = env.float("BEAT_LOCK_SECONDS", default=60.0)
# How often the per-minute jobs below run (shorter only in tests that wait for them).
BEAT_SWEEP_SECONDS = env.float("BEAT_SWEEP_SECONDS", default=60.0)
BEAT_REPAIR_JOBS = [
    "sweep-outbox",
    "sweep-password-reset-requests",
    "expire-idle-sessions",
    "ship-audit-events",
    "sweep-recovery-attempts",
]
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {"task": "outbox.tasks.sweep_outbox", "schedule": BEAT_SWEEP_SECONDS},
    "sweep-password-reset-requests": {
        "task": "accounts.tasks.sweep_password_reset_requests",
        "schedule": BEAT_SWEEP_SECONDS,
    },
    "clean-expired-lockouts": {"task": "accounts.tasks.clean_expired_lockouts", "schedule": 3600.0},
    "recheck-breached-passwords": {
        "task": "accounts.tasks.recheck_breached_passwords",
        "schedule": 3600.0,
    },
    "expire-idle-sessions": {
        "task": "teams.tasks.expire_idle_sessions",
        "schedule": BEAT_SWEEP_SECONDS,
    },
    "apply-inactivity-policy": {
        "task": "teams.tasks.apply_inactivity_policy",
        "schedule": crontab(hour=3, minute=17),
    },
    "audit-retention": {"task": "audit.tasks.apply_audit_retention", "schedule": 24 * 60 * 60.0},
    "audit-months": {"task": "audit.tasks.maintain_audit_months", "schedule": 24 * 60 * 60.0},
    "checkpoint-audit-chains": {
        "task": "audit.tasks.checkpoint_audit_chains",
        "schedule": 3600.0,
    },
    "ship-audit-events": {"task": "audit.tasks.ship_audit_events", "schedule": BEAT_SWEEP_SECONDS},
    "sweep-recovery-attempts": {
        "task": "support.tasks.sweep_recovery_attempts",
        "schedule": BEAT_SWEEP_SECONDS,
    },
    "expire-recovery-requests": {
        "task": "support.tasks.expire_recovery_requests",
        "schedule": 3600.0,
    },
    "recheck-domain-verifications": {
        "task": "sso.tasks.recheck_domain_verifications",
        "schedule": 3600.0,
    },
    "access-review-summaries": {
        "task": "reviews.tasks.send_access_review_summaries",
        "schedule": crontab(day_of_month=1, hour=6, minute=0),
    },
}

# The audit log shipped off the machine (audit/shipping.py, docs/audit.md): every event also goes
# to the operator's syslog receiver (RFC 5424 over TCP, octet-counted; tls:// for TLS) and to
# each tenant's own webhook, at least once and in order per tenant.
AUDIT_SYSLOG_URL = env.str("AUDIT_SYSLOG_URL", default="")
if AUDIT_SYSLOG_URL and not AUDIT_SYSLOG_URL.startswith(("tcp://", "tls://")):
    raise ImproperlyConfigured(
        "AUDIT_SYSLOG_URL must be tcp://host:port or tls://host:port, or empty for no syslog."
    )
# A CA bundle to verify the syslog receiver's TLS certificate with (default: the system's).
AUDIT_SYSLOG_CA_FILE = env.str("AUDIT_SYSLOG_CA_FILE", default="")
# Off in production: webhooks must be https:// to a public address. On, http:// and private,
# loopback and link-local addresses are allowed too (tests, a receiver inside one's network).
AUDIT_WEBHOOK_ALLOW_LOCAL = env.bool("AUDIT_WEBHOOK_ALLOW_LOCAL", default=False)
AUDIT_SHIPPING_TIMEOUT = env.float("AUDIT_SHIPPING_TIMEOUT", default=5.0)
# How long platform events (those of no tenant) are kept, in months; unset keeps them forever,
# and then no month of the audit log is ever dropped (audit/partitions.py, docs/audit.md).
AUDIT_PLATFORM_RETENTION_MONTHS = env.int("AUDIT_PLATFORM_RETENTION_MONTHS", default=None)

# Account recovery requests ("Can't sign in?"): see support/.
RECOVERY_LIMIT_PER_EMAIL = env.int("RECOVERY_LIMIT_PER_EMAIL", default=3)
RECOVERY_LIMIT_PER_IP = env.int("RECOVERY_LIMIT_PER_IP", default=10)
RECOVERY_REQUEST_DAYS = 7
# Access reviews: see reviews/.
ACCESS_REVIEW_MAX_SESSIONS = env.int("ACCESS_REVIEW_MAX_SESSIONS", default=3)
ACCESS_REVIEW_STALE_DAYS = 30

# Logs: JSON lines unless DEBUG (LOG_FORMAT=plain|json), URL secrets redacted, each request's id,
# tenant and person on its lines. What each logger may say: docs/logging.md.
try:
    LOG_FORMAT = log_format_from_environment()
except ValueError as error:
    raise ImproperlyConfigured(str(error)) from error
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "config.log_format.RedactingFilter"},
        "request_context": {"()": "config.log_format.RequestContextFilter"},
    },
    "formatters": {
        "json": {"()": "config.log_format.JsonLogFormatter"},
        "plain": {"()": "config.log_format.PlainLogFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact", "request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # WARNING, so refused and missing pages (4xx) are logged as well as errors.
        "django.request": {"level": "WARNING"},
        # The development server's request lines, through the same redaction.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
# Celery's processes log through the LOGGING above instead of replacing the root logger's
# handlers with their own plain format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
