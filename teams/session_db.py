"""Sessions in the database alone (without Redis), written once when a sign-in starts them."""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.db import DatabaseError, IntegrityError, router, transaction
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


class OneStatementSave(db.SessionStore):
    """Outside a transaction, a session is written in its one INSERT or UPDATE, without the
    BEGIN and COMMIT around it that Django adds (a single statement in autocommit is its own
    transaction, and a failed one leaves no transaction to roll back). Inside a transaction,
    Django's savepoint stays, so a failed write does not break the caller's transaction."""

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            super().save(must_create=must_create)
            return
        using = router.db_for_write(self.model)
        if transaction.get_connection(using).in_atomic_block:
            super().save(must_create=must_create)
            return
        obj = self.create_model_instance(self._get_session(no_load=must_create))
        try:
            obj.save(force_insert=must_create, force_update=not must_create, using=using)
        except IntegrityError as error:
            if must_create:
                raise CreateError from error
            raise
        except DatabaseError as error:
            if not must_create:
                raise UpdateError from error
            raise


class SessionStore(FirstWriteAtResponse, OneStatementSave):
    pass
