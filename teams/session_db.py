"""Sessions in the database alone (without Redis), written once when a sign-in starts them."""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.utils.crypto import get_random_string


class FirstWriteAtResponse:
    """A session gets its new key at `cycle_key()` without a write of its own; the response's
    save is the one write.

    Django's `cycle_key()` writes at once: a lookup that the random key is free, an INSERT (in
    a savepoint) of the data under it, a read and a DELETE of the old row, and then the
    response's save UPDATEs the new row again. Here the new key is only chosen. A session that
    was never stored is then INSERTed once by the response; one that was is moved by one
    UPDATE of its row's key and data (and its cached copy follows). A clash of two
    32-character random keys makes that write fail rather than overwrite another session.
    """

    _insert_on_save = False
    _moved_from: str | None = None

    def cycle_key(self) -> None:
        data = self._session
        old_key = self.session_key
        self._session_key = get_random_string(32, VALID_KEY_CHARS)
        self._session_cache = data
        self.modified = True
        if old_key is None or self._insert_on_save:
            self._insert_on_save = True
        elif self._moved_from is None:
            self._moved_from = old_key

    def save(self, must_create: bool = False) -> None:
        moved_from, self._moved_from = self._moved_from, None
        if moved_from is not None and self.session_key is not None and not must_create:
            if self._row_move(moved_from):
                return
            must_create = True
        if self._insert_on_save and self.session_key is not None:
            self._insert_on_save = False
            must_create = True
        super().save(must_create=must_create)

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None and self._moved_from is not None:
            # The stored row is still under the key it had before `cycle_key()`.
            session_key, self._moved_from = self._moved_from, None
        super().delete(session_key)

    def _row_move(self, old_key: str) -> bool:
        """Move the stored row from `old_key` to this session's key, with its data, in one
        UPDATE; False when there was no row to move."""
        row = self.create_model_instance(self._get_session(no_load=True))
        using = router.db_for_write(self.model)
        moved = (
            self.model.objects.using(using)
            .filter(session_key=old_key)
            .update(
                session_key=self.session_key,
                session_data=row.session_data,
                expire_date=row.expire_date,
            )
        )
        if moved:
            self._cached_copy_move(old_key)
        return bool(moved)

    def _cached_copy_move(self, old_key: str) -> None:
        """A store with a cache in front (teams.session_store) overrides this."""


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
