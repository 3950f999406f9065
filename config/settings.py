"""Steward settings. Everything configurable comes from environment variables.

Defaults are the embedded ones (`make run`): SQLite under var/, a filesystem Celery broker,
console email. Production (`STEWARD_ENV=production`) refuses to start with a default SECRET_KEY
or with DEBUG on.
"""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STEWARD_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


STEWARD_ENV = os.environ.get("STEWARD_ENV", "development")
PRODUCTION = STEWARD_ENV == "production"
INSECURE_DEFAULT_KEY = "django-insecure-steward-development-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", INSECURE_DEFAULT_KEY)
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

if PRODUCTION:
    if SECRET_KEY == INSECURE_DEFAULT_KEY or len(SECRET_KEY) < 40:
        raise ImproperlyConfigured(
            "Production needs a SECRET_KEY of 40+ random characters in the environment."
        )
    if DEBUG:
        raise ImproperlyConfigured("Production refuses to start with DEBUG on.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "csp",
    "axes",
    "mozilla_django_oidc",
    "governance",
    "inventory",
    "approvals",
    "connectors",
    "workload",
    "chat",
]

# CSP right after SecurityMiddleware; Axes last, so it turns a lockout into the login page's answer.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "governance.middleware.PolicyHeadersMiddleware",  # django-csp's, built once (governance/middleware.py)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # No-store on answers to signed-in people and tokens; outside the 403s and views it covers.
    "governance.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "governance.middleware.RequestIdMiddleware",
    "governance.middleware.RefuseNulMiddleware",
    # POST /api/v1/decisions/ with a bearer token: answered here, past the URL resolver, the session
    # and DRF's machinery, with the same checks (governance/decisions/lean.py).
    "governance.decisions.lean.LeanDecisionMiddleware",
    "governance.middleware.SsoSessionMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "governance.middleware.ReadOnlyRolesMiddleware",
    "governance.middleware.IllegalTransitionMiddleware",
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
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.context_processors.navigation",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'steward.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file in the embedded mode: WAL plus IMMEDIATE
    # transactions avoid "database is locked" when two processes write at once.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = (
        {"NAME": os.environ.get("STEWARD_TEST_SQLITE", "")} if os.environ.get("STEWARD_TEST_SQLITE") else {}
    )
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    if os.environ.get("STEWARD_PGBOUNCER") == "1":
        # Behind PgBouncer in transaction mode a session is not kept between transactions: no
        # server-side cursors (Django's iterator()) and no prepared statements (psycopg prepares a
        # query it has run five times, on a server connection the next transaction may not get).
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
    else:
        # Django turns psycopg's preparing off by default (for poolers). Only the hot statements run
        # with parameters bound on the server (governance.prepared); those are prepared once run
        # five times on a connection. Every other statement binds on the client and is never prepared.
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "governance.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "media"},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Email: console in the demo, SMTP when EMAIL_HOST is set.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "steward@localhost")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
STEWARD_BASE_URL = os.environ.get("STEWARD_BASE_URL", "http://127.0.0.1:8000")
# Password reset (governance/people/password_reset.py) is offered only when EMAIL_HOST is set; its
# links are built from STEWARD_BASE_URL. Requests per client address and per e-mail address:
STEWARD_PASSWORD_RESET_RATE_PER_ADDRESS = os.environ.get("STEWARD_PASSWORD_RESET_RATE_PER_ADDRESS", "10/hour")
STEWARD_PASSWORD_RESET_RATE_PER_EMAIL = os.environ.get("STEWARD_PASSWORD_RESET_RATE_PER_EMAIL", "3/hour")

# Signing keys (evidence packs, audit checkpoints, attestations): files, one per purpose, never in
# the database. A missing key is generated on first use when this folder is writable; production
# provisions them and may mount the folder read-only (README, "Signing keys").
STEWARD_SIGNING_KEY_DIR = Path(os.environ.get("STEWARD_SIGNING_KEY_DIR", VAR_DIR / "signing-keys"))
# The audit chain's head is signed this often (and at every evidence export); verify_audit_chain
# fails when the newest signed checkpoint is older than two of these.
STEWARD_AUDIT_CHECKPOINT_MINUTES = int(os.environ.get("STEWARD_AUDIT_CHECKPOINT_MINUTES", "60"))

# Celery: embedded default is kombu's filesystem transport (no broker server).
BROKER_DIR = VAR_DIR / "broker"
# "localhost" only names the (unused) host, so kombu does not warn on every start that none was given.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Without it kombu writes its broadcast exchange to ./control/ wherever the worker started.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# JSON only: Celery refuses a root worker that accepts pickle (config/celery.py relies on that).
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # A Steward access token (a JWT from the token exchange) first; static `stw_` tokens next.
        "workload.auth.WorkloadTokenAuthentication",
        "governance.people.tokens.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "governance.permissions.TokenScopePermission",
        "governance.permissions.AuditorReadOnly",
    ],
    # JSON with a nesting limit and finite numbers only (governance/safe_json.py): a deep document
    # was a RecursionError, a 500 on every endpoint.
    "DEFAULT_PARSER_CLASSES": [
        "governance.safe_json.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "governance.api_common.StewardPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api_common.exception_handler",
    # Rate limits per token (or per signed-in user): STEWARD_API_RATE below.
    "DEFAULT_THROTTLE_CLASSES": ["governance.throttling.ApiRateThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Steward API",
    "DESCRIPTION": "Governance of non-human identities: inventory, approvals, reviews, exceptions, evidence.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "governance.api_common.document_error_responses",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "RiskTierEnum": "inventory.models.RiskTier",
        "EnvironmentEnum": "inventory.models.Environment",
        "ActionEnum": "inventory.models.Action",
        "ResourceKindEnum": "inventory.models.ResourceKind",
        "DataClassificationEnum": "inventory.models.DataClassification",
        "IdentityKindEnum": "inventory.models.Identity.Kind",
        "CredentialKindEnum": "inventory.models.Credential.Kind",
        "IdentityStatusEnum": "inventory.models.Identity.Status",
        "FindingStatusEnum": "governance.findings.models.Finding.Status",
        "ReviewDecisionEnum": "governance.reviews.models.ReviewItem.Decision",
        "DecisionOutcomeEnum": "governance.decisions.models.DecisionOutcome",
        "PolicyVersionStateEnum": "governance.policy.models.PolicyVersion.State",
        "OwnershipTransferRoleEnum": "inventory.models.OwnershipTransfer.Role",
    },
}

# ---------------------------------------------------------------------------------------------
# Security
# Everything security-related lives in this section: cookies and transport, the Content-Security-
# Policy, login throttling, API rate limits, sessions and single sign-on. All of it is driven by the
# environment; production (STEWARD_ENV=production) turns on the transport protections.
# ---------------------------------------------------------------------------------------------
from datetime import timedelta  # noqa: E402

from csp.constants import NONE, SELF  # noqa: E402

# Cookies and transport.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"  # Lax, not Strict: the SSO callback is a top-level redirect from the IdP
CSRF_COOKIE_SAMESITE = "Lax"
# The CSRF cookie stays readable by script on purpose: Swagger UI's "Try it out" sends it as a header.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Sessions: 8 hours by default; optionally end when the browser closes.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)

# Content-Security-Policy (django-csp 4): no inline script and no inline style anywhere. Pages load
# only what Steward serves itself; data: images are Bootstrap's inline SVG icons in its CSS.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
if os.environ.get("STEWARD_CSP_REPORT_URI"):
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [os.environ["STEWARD_CSP_REPORT_URI"]]

# A shared cache makes API rate limits hold across web processes (local memory otherwise).
if os.environ.get("STEWARD_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "governance.cache.StewardRedisCache",  # Django's, reusing its client
            "LOCATION": os.environ["STEWARD_CACHE_URL"],
        }
    }

# Failed-login throttling (django-axes): N failures for one username from one address lock that
# pair out for M minutes. Successful logins reset the count. And L failures from one address, across
# all usernames (one password sprayed over many users), lock that address out (0 turns it off).
AXES_ENABLED = env_bool("STEWARD_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = int(os.environ.get("STEWARD_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("STEWARD_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
STEWARD_LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("STEWARD_LOGIN_ADDRESS_FAILURE_LIMIT", "20"))
AXES_HANDLER = "governance.people.lockout.StewardAxesHandler"  # the per-address limit
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "governance.people.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "governance.people.auth.client_ip"
# Behind N reverse proxies that append to X-Forwarded-For, the client is the Nth address from the right.
STEWARD_TRUSTED_PROXY_COUNT = int(os.environ.get("STEWARD_TRUSTED_PROXY_COUNT", "0"))

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "governance.people.oidc.StewardOIDCBackend",
    "governance.people.auth.LocalPasswordBackend",
]
# Local (password) login: on by default for the demo; "0" keeps it for superusers only (break-glass).
STEWARD_LOCAL_LOGIN = env_bool("STEWARD_LOCAL_LOGIN", True)

# Single sign-on (OpenID Connect, mozilla-django-oidc). On only when OIDC_RP_CLIENT_ID is set.
# Endpoints come from the environment, or from OIDC_OP_DISCOVERY_ENDPOINT (the provider's
# /.well-known/openid-configuration) for any endpoint left empty.
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_DISCOVERY_ENDPOINT = os.environ.get("OIDC_OP_DISCOVERY_ENDPOINT", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_OP_ISSUER = os.environ.get("OIDC_OP_ISSUER", "")  # when set, the ID token's `iss` must match
# The provider's end_session_endpoint (RP-initiated logout); empty: read from discovery, if offered.
OIDC_OP_LOGOUT_ENDPOINT = os.environ.get("OIDC_OP_LOGOUT_ENDPOINT", "")
# "1" for providers that accept only client_secret_basic at the token endpoint.
OIDC_TOKEN_USE_BASIC_AUTH = env_bool("OIDC_TOKEN_USE_BASIC_AUTH", False)
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "openid email profile")
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
OIDC_TIMEOUT = float(os.environ.get("OIDC_TIMEOUT", "10"))
OIDC_STORE_ACCESS_TOKEN = False  # Steward never keeps the IdP's tokens
OIDC_STORE_ID_TOKEN = False
OIDC_CREATE_USER = env_bool("STEWARD_OIDC_CREATE_USERS", True)  # "0": only users already in Steward
OIDC_AUTHENTICATE_CLASS = "governance.people.oidc.StewardOIDCAuthenticateView"
OIDC_CALLBACK_CLASS = "governance.people.oidc.StewardOIDCCallbackView"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
STEWARD_OIDC_GROUPS_CLAIM = os.environ.get("STEWARD_OIDC_GROUPS_CLAIM", "groups")
STEWARD_OIDC_ROLE_MAP = os.environ.get("STEWARD_OIDC_ROLE_MAP", "")
# A claim by which the IdP says an account is disabled (false/0/"disabled"): the user is deprovisioned
# in Steward (deactivated, their identities re-homed). Empty turns this off.
STEWARD_OIDC_ACTIVE_CLAIM = os.environ.get("STEWARD_OIDC_ACTIVE_CLAIM", "active")
# The ID token claim that equals a SCIM-provisioned person's externalId at their first login
# ("sub"; "oid" for Entra ID, whose SCIM client sends the object id as externalId).
STEWARD_OIDC_SCIM_MATCH_CLAIM = os.environ.get("STEWARD_OIDC_SCIM_MATCH_CLAIM", "sub")
# Without SCIM, an SSO session asks the provider again (refresh token, userinfo) at most this often;
# a refusal (disabled, removed, groups claim gone) ends the session. Ask for `offline_access` so the
# provider issues a refresh token: without one the session ends at its first re-check.
STEWARD_SSO_RECHECK_SECONDS = int(os.environ.get("STEWARD_SSO_RECHECK_SECONDS", "900"))
# Where the provider sends the browser after RP-initiated logout (register it at the provider).
STEWARD_SSO_POST_LOGOUT_PATH = os.environ.get("STEWARD_SSO_POST_LOGOUT_PATH", "/accounts/login/?signed_out=1")

# API rate limits per token (or per signed-in user): generous defaults, lower them in production.
STEWARD_API_RATE = os.environ.get("STEWARD_API_RATE", "3000/min")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Upload limits for imports (bytes, rows).
STEWARD_IMPORT_MAX_BYTES = int(os.environ.get("STEWARD_IMPORT_MAX_BYTES", str(10 * 1024 * 1024)))
STEWARD_IMPORT_MAX_ROWS = int(os.environ.get("STEWARD_IMPORT_MAX_ROWS", "50000"))

# Connectors (connectors/): hosts a connector's endpoint_url (or base_url) may name, comma-separated;
# ".example.com" admits its subdomains. Loopback hosts are also allowed outside production (local
# emulators). Empty: only each SDK's default endpoints.
STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = [
    host.strip()
    for host in os.environ.get("STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST", "").split(",")
    if host.strip()
]

# Request-time decisions: allows above this many per identity per minute are counted into one row.
# The decision endpoint's lean path for bearer-token questions (governance/decisions/lean.py); 0 sends
# them through DRF like every other request (the answers are the same either way).
STEWARD_LEAN_DECISIONS = os.environ.get("STEWARD_LEAN_DECISIONS", "1") != "0"
STEWARD_DECISION_SAMPLE_ABOVE = int(os.environ.get("STEWARD_DECISION_SAMPLE_ABOVE", "60"))
# Web and Celery worker processes freeze what is alive once they have loaded, so the garbage
# collector's full passes skip the ~180,000 objects of the loaded code (config/startup.py); 0: do not.
STEWARD_GC_FREEZE = env_bool("STEWARD_GC_FREEZE", True)
# Scheduled work: /healthz reports the sweep as late past this age; an evidence build whose worker
# stopped renewing its lease this long ago is rebuilt by the recovery job.
STEWARD_SWEEP_MAX_AGE_SECONDS = int(os.environ.get("STEWARD_SWEEP_MAX_AGE_SECONDS", str(2 * 3600)))
STEWARD_EVIDENCE_BUILD_LEASE_MINUTES = int(os.environ.get("STEWARD_EVIDENCE_BUILD_LEASE_MINUTES", "30"))
# The release named in evidence packs; empty: the installed package's version.
STEWARD_VERSION = os.environ.get("STEWARD_VERSION", "")
# Notifications also go to this webhook (JSON POST) when set.
STEWARD_WEBHOOK_URL = os.environ.get("STEWARD_WEBHOOK_URL", "")
# Approve from chat (chat/, issue 28). Secrets from the environment only, never stored or logged: the
# bot token (xoxb-…, scopes chat:write and commands) and the app's signing secret. The API's base URL
# (slack-sdk's base_url). Where each request is posted: a JSON object whose keys are "team:<slug>",
# "tier:<tier>" or "default" and whose values are channel ids, e.g. {"tier:critical": "C0SEC",
# "default": "C0IAM"}; the team's channel wins over the tier's. No token: nothing is posted.
STEWARD_SLACK_BOT_TOKEN = os.environ.get("STEWARD_SLACK_BOT_TOKEN", "")
STEWARD_SLACK_SIGNING_SECRET = os.environ.get("STEWARD_SLACK_SIGNING_SECRET", "")
STEWARD_SLACK_API_URL = os.environ.get("STEWARD_SLACK_API_URL", "https://slack.com/api/")
try:
    STEWARD_SLACK_CHANNELS = json.loads(os.environ.get("STEWARD_SLACK_CHANNELS", "") or "{}")
except ValueError as exc:
    raise ImproperlyConfigured(f"STEWARD_SLACK_CHANNELS is not valid JSON: {exc}") from exc
if not isinstance(STEWARD_SLACK_CHANNELS, dict):
    raise ImproperlyConfigured('STEWARD_SLACK_CHANNELS must be a JSON object, e.g. {"default": "C0123"}.')
