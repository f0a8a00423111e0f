"""Sessions in the database alone (without Redis), written once when a sign-in starts them."""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.utils.crypto import get_random_string


class FirstWriteAtResponse:
    """A session gets its new key at `cycle_key()` (every `login()`) without a write of its own:
    the response's save is the one INSERT under the new key.

    Django's `cycle_key()` looks up that the random key is free, INSERTs the session (in a
    savepoint), deletes the old row (read, then delete), and the response's save then UPDATEs
    the row it just inserted. Here the new key is only chosen, the old row (if the session was
    stored) is deleted in one statement, and the response INSERTs. A clash of two 32-character
    random keys makes that INSERT fail rather than overwrite another session. Inside the
    sign-in's transaction the deletion commits or rolls back with the sign-in.
    """

    _insert_on_save = False

    def cycle_key(self) -> None:
        data = self._session
        # Loading a key the store doesn't hold forgets it: then there is no old row.
        old_key = self.session_key
        self._session_key = get_random_string(32, VALID_KEY_CHARS)
        self._session_cache = data
        self._insert_on_save = True
        self.modified = True
        if old_key:
            self.delete(old_key)

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

    def delete(self, session_key: str | None = None) -> None:
        """One DELETE statement. Django reads the row and then deletes it, and a queryset's
        delete() would wrap its one DELETE in a transaction of its own (BEGIN and COMMIT)."""
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        using = router.db_for_write(self.model)
        connection = connections[using]
        table = connection.ops.quote_name(self.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE session_key = %s", [session_key])  # noqa: S608 - the table name is the model's


class SessionStore(FirstWriteAtResponse, OneStatementSave):
    pass
