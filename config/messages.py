"""Django's messages, kept in a cookie named like the site's other cookies.

Django's cookie storage names its cookie `messages` whatever the settings; under TLS every
cookie the site sets carries the `__Host-` prefix (config/settings.py says why), this one too.
"""

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.messages.storage.session import SessionStorage


class HostCookieStorage(CookieStorage):
    cookie_name = settings.MESSAGES_COOKIE_NAME


class MessageStorage(FallbackStorage):
    """Django's default (a cookie, the session for what doesn't fit), with the cookie named
    `MESSAGES_COOKIE_NAME`."""

    storage_classes = (HostCookieStorage, SessionStorage)
