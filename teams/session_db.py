"""Sessions in the database alone (without Redis), written once when a sign-in starts them."""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.utils.crypto import get_random_string


class FirstWriteAtResponse:
    """A session that was never stored gets its key at `login()` without a write of its own.

    Django's `login()` cycles the key, and for a brand-new session that means a lookup that the
    random key is free, then an INSERT (in a savepoint), and the response's save then UPDATEs the
    same row. Here the new key is only chosen; the response's save is the one INSERT. A clash of
    two 32-character random keys makes that INSERT fail rather than overwrite another session.
    A session that was stored moves to its new key as Django does it.
    """

    _insert_on_save = False

    def cycle_key(self) -> None:
        if self.session_key is not None:
            super().cycle_key()
            return
        data = self._session
        self._session_key = get_random_string(32, VALID_KEY_CHARS)
        self._session_cache = data
        self._insert_on_save = True
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if self._insert_on_save and self.session_key is not None:
            self._insert_on_save = False
            must_create = True
        super().save(must_create=must_create)


class SessionStore(FirstWriteAtResponse, db.SessionStore):
    pass
