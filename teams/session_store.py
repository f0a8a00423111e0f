"""Sessions in the database with Redis in front, that keep working when Redis does not."""

import contextlib

from django.contrib.sessions.backends import cached_db

from teams.session_db import FirstWriteAtResponse, OneStatementSave


class QuietCachedSave(cached_db.SessionStore):
    """Django's cached_db save without its "Error saving to cache" (logger
    `django.contrib.sessions`, at ERROR with a traceback) on every request while Redis is down:
    the session is in the database, and the cache backend logs the outage once."""

    def save(self, must_create: bool = False) -> None:
        super(cached_db.SessionStore, self).save(must_create=must_create)
        # The database holds the session; a cache that didn't take it only costs speed.
        with contextlib.suppress(Exception):
            self._cache.set(self.cache_key, self._session, self.get_expiry_age())


class SessionStore(FirstWriteAtResponse, QuietCachedSave, OneStatementSave):
    """Django's cached_db store, with every cache call allowed to fail; a new session is
    written once, by the response (teams.session_db).

    Django's own store already survives a failed cache write, but a failed read-back after a
    database load, an `exists()` probe or a delete raises, and with Redis down every signed-in
    page would answer 500. The database is the source of truth, so a cache failure only costs
    speed, and each fallback is silent: the cache backend (config/cache.py) logs one WARNING
    when Redis stops answering and one INFO when it answers again. A copy the cache still holds
    after a failed delete cannot revive a revoked session: the session's tracking row is gone,
    and the session is refused for that.
    """

    def load(self) -> dict:
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # noqa: BLE001 - any cache failure falls back to the database
            data = None
        if data is not None:
            return data
        session = self._get_session_from_db()
        if not session:
            return {}
        data = self.decode(session.session_data)
        with contextlib.suppress(Exception):
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=session.expire_date))
        return data

    def exists(self, session_key: str) -> bool:
        with contextlib.suppress(Exception):
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        return super(cached_db.SessionStore, self).exists(session_key)

    def _cached_copy_move(self, old_key: str) -> None:
        with contextlib.suppress(Exception):
            self._cache.delete(self.cache_key_prefix + old_key)
            self._cache.set(self.cache_key, self._session, self.get_expiry_age())

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None and self._moved_from is not None:
            session_key, self._moved_from = self._moved_from, None
        super(cached_db.SessionStore, self).delete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        with contextlib.suppress(Exception):
            self._cache.delete(self.cache_key_prefix + session_key)
