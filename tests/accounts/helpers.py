import re
import threading

from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core import mail

LINK = re.compile(r"https?://\S+/accounts/reset/[^/\s]+/[^/\s]+/")


def link_in(message) -> str:
    """The set-password link of a mail, checked to be the same in its text and HTML parts."""
    links = LINK.findall(message.body)
    assert len(links) == 1, message.body
    assert links[0] in message.alternatives[0][0]
    return links[0]


def mails_to(email: str) -> list:
    return [message for message in mail.outbox if message.to == [email]]


class CountingArgon2Hasher(Argon2PasswordHasher):
    """Argon2 that counts how many passwords it checked, across threads."""

    checked = 0
    _lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with self._lock:
            CountingArgon2Hasher.checked += 1
        return super().verify(password, encoded)
