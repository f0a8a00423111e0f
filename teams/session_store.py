"""Sessions in the database with Redis in front, that keep working when Redis does not."""

import logging

from django.contrib.sessions.backends import cached_db

from teams.session_db import FirstWriteAtResponse, OneStatementSave

logger = logging.getLogger(__name__)


class SessionStore(FirstWriteAtResponse, cached_db.SessionStore, OneStatementSave):
    """Django's cached_db store, with every cache call allowed to fail; a new session is
    written once, by the response (teams.session_db).

    Django's own store already survives a failed cache write, but a failed read-back after a
    database load, an `exists()` probe or a delete raises, and with Redis down every signed-in
    page would answer 500. The database is the source of truth, so a cache failure only costs
    speed. A copy the cache still holds after a failed delete cannot revive a revoked session:
    the session's tracking row is gone, and the session is refused for that.
    """

    def load(self) -> dict:
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # noqa: BLE001 - any cache failure falls back to the database
            logger.warning("Session cache unavailable; reading the session from the database")
            data = None
        if data is not None:
            return data
        session = self._get_session_from_db()
        if not session:
            return {}
        data = self.decode(session.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=session.expire_date))
        except Exception:  # noqa: BLE001
            logger.warning("Session cache unavailable; the session was not cached")
        return data

    def exists(self, session_key: str) -> bool:
        try:
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        except Exception:  # noqa: BLE001
            logger.warning("Session cache unavailable; checking the database only")
        return super(cached_db.SessionStore, self).exists(session_key)

    def _cached_copy_move(self, old_key: str) -> None:
        try:
            self._cache.delete(self.cache_key_prefix + old_key)
            self._cache.set(self.cache_key, self._session, self.get_expiry_age())
        except Exception:  # noqa: BLE001
            logger.warning("Session cache unavailable; a moved session may stay cached")

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None and self._moved_from is not None:
            session_key, self._moved_from = self._moved_from, None
        super(cached_db.SessionStore, self).delete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception:  # noqa: BLE001
            logger.warning("Session cache unavailable; a deleted session may stay cached")
