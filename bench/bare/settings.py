"""The bare side of `make bench` part 1: a plain Django project with none of Portcullis's apps,
receivers or middleware. django.contrib.auth, sessions and contenttypes, `startproject`'s
middleware, Django's `LoginView` and `ModelBackend`, database sessions, the MD5 hasher the
Portcullis side signs in with, and the same database engine (`BARE_DATABASE_URL`, set by
bench/run.py; the process makes and drops its own throwaway database in it)."""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "benchmark-only-bare-secret-key-not-for-production-0123456789"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
# Django's `startproject` middleware.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.bare.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": environ.Env.db_url_config(os.environ["BARE_DATABASE_URL"])}
# As Portcullis keeps its connections (config/settings.py); the bench's test client keeps
# them open for both sides anyway.
DATABASES["default"]["CONN_MAX_AGE"] = 60
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
