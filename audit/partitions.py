"""Monthly partitions of the audit log on PostgreSQL: made ahead, and dropped once unneeded.

The events table is partitioned by month of `created_at` (audit migration 0020), with a
default partition for rows outside every month made. Beat makes the months ahead each day and
the release does on every deploy; the site's role can't create or drop tables, so both go
through functions the migrating role owns and runs (SECURITY DEFINER): `audit_month_create` and
`audit_month_drop`. A month made copies the parent's grants minus UPDATE, DELETE, TRUNCATE,
REFERENCES and TRIGGER, and gets the no-truncate trigger (the append-only row trigger is the
parent's, on every partition).

Dropping a month replaces deleting its rows one tenant at a time. Once no chain needs a month
(every tenant with events in it keeps them for less time than the month's age, and platform
events keep only what `AUDIT_PLATFORM_RETENTION_MONTHS` says), each of those chains gets a
signed retention checkpoint at its last event in the month, and the month is dropped.
`audit_month_drop` refuses while the month holds an event beyond its chain's retention
checkpoint, so a month goes only after the site, holding the chain key, has signed the cut.
SQLite keeps one table and deletes rows, as before.
"""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import OperationalError, transaction
from django.db import connection as default_connection
from django.utils import timezone

from audit import services
from audit.chain import checkpoint_signature, current_chain_key
from audit.events import AuditEventType
from audit.models import AuditChain
from teams.models import Tenant

MONTHS_AHEAD = 3
# How long dropping a month may wait for readers of the log (a CSV export streaming to a slow
# client holds its months while it runs). While the drop waits, every write to the log queues
# behind it, so it gives up soon and the next day's run tries again.
MONTH_DROP_LOCK_WAIT = "2s"
LOCK_NOT_AVAILABLE = "55P03"

logger = logging.getLogger(__name__)

MONTH_FUNCTIONS = """
CREATE FUNCTION audit_month_name(month date) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'audit_auditevent_' || to_char(month, '"y"YYYY"m"MM')
$$;

CREATE FUNCTION audit_month_create(month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    first timestamptz := date_trunc('month', month)::timestamp AT TIME ZONE 'UTC';
    after timestamptz :=
        (date_trunc('month', month) + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    name text := audit_month_name(date_trunc('month', month)::date);
    grantee oid;
BEGIN
    IF to_regclass('public.' || name) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- A month whose rows already sit in the default partition stays there: attaching it
    -- would fail on them. Only a month long missed (beat down for months) is in that state.
    IF EXISTS (SELECT 1 FROM public.audit_auditevent_default
                WHERE created_at >= first AND created_at < after) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.audit_auditevent '
                   'FOR VALUES FROM (%L) TO (%L)', name, first, after);
    EXECUTE format('CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON public.%I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change()', name);
    -- Default privileges gave the site's role every right on a new table; take back those
    -- that change or remove rows.
    FOR grantee IN
        SELECT DISTINCT acl.grantee FROM pg_class, aclexplode(relacl) AS acl
         WHERE pg_class.oid = ('public.' || name)::regclass
           AND acl.grantee <> pg_class.relowner AND acl.grantee <> 0
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON public.%I FROM %I',
                       name, grantee::regrole::text);
    END LOOP;
    RETURN true;
END
$$;

CREATE FUNCTION audit_month_drop(month date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    name text := audit_month_name(date_trunc('month', month)::date);
    unreleased bigint;
    removed bigint;
BEGIN
    IF to_regclass('public.' || name) IS NULL THEN
        RETURN 0;
    END IF;
    EXECUTE format(
        'SELECT count(*) FROM public.%I AS e LEFT JOIN public.audit_auditchain AS c '
        'ON c.key = COALESCE(e.tenant_id, 0) '
        'WHERE e.sequence > COALESCE(c.checkpoint_sequence, 0)', name) INTO unreleased;
    IF unreleased > 0 THEN
        RAISE EXCEPTION
            'audit month % still holds % events past their chain''s retention checkpoint',
            name, unreleased;
    END IF;
    EXECUTE format('SELECT count(*) FROM public.%I', name) INTO removed;
    EXECUTE format('ALTER TABLE public.audit_auditevent DETACH PARTITION public.%I', name);
    EXECUTE format('DROP TABLE public.%I', name);
    RETURN removed;
END
$$;
REVOKE ALL ON FUNCTION audit_month_create(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_month_drop(date) FROM PUBLIC;
"""


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def month_after(first: datetime) -> datetime:
    year, month = divmod(first.year * 12 + first.month, 12)
    return datetime(year, month + 1, 1, tzinfo=UTC)


def months_ahead_create(
    *, connection=None, since: datetime | None = None, now: datetime | None = None
) -> list[str]:
    """Make the month partitions from `since` (default: this month) to `MONTHS_AHEAD` months
    after this one; return the names of those made. Nothing on SQLite."""
    connection = connection or default_connection
    if connection.vendor != "postgresql":
        return []
    now = now or timezone.now()
    month = month_start(since or now)
    last = month_start(now)
    for _ in range(MONTHS_AHEAD):
        last = month_after(last)
    made = []
    with connection.cursor() as cursor:
        while month <= last:
            cursor.execute("SELECT audit_month_create(%s::date)", [month.date()])
            if cursor.fetchone()[0]:
                made.append(f"audit_auditevent_y{month.year:04d}m{month.month:02d}")
            month = month_after(month)
    return made


def audit_months_ensure(*, now: datetime | None = None) -> list[str]:
    """Daily and at each release: the months ahead exist."""
    return months_ahead_create(now=now)


def month_partitions() -> list[datetime]:
    """The first day of each month that has a partition, oldest first."""
    if default_connection.vendor != "postgresql":
        return []
    with default_connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class AS child ON child.oid = inhrelid "
            "WHERE inhparent = 'audit_auditevent'::regclass "
            "AND child.relname ~ '_y[0-9]{4}m[0-9]{2}$' "
            "ORDER BY child.relname"
        )
        names = [row[0] for row in cursor.fetchall()]
    return [datetime(int(name[-7:-3]), int(name[-2:]), 1, tzinfo=UTC) for name in names]


def _needed_since(now: datetime) -> datetime | None:
    """The oldest time any chain still keeps events from; None when one keeps them forever."""
    if settings.AUDIT_PLATFORM_RETENTION_MONTHS is None:
        return None
    retentions = list(Tenant.objects.values_list("audit_retention_months", flat=True))
    if None in retentions:
        return None
    longest = max([*retentions, settings.AUDIT_PLATFORM_RETENTION_MONTHS])
    return services.months_before(now, longest)


def audit_months_remove(*, now: datetime | None = None) -> int:
    """Drop every month no chain needs any more, oldest first; return how many events went.

    Each month dropped records one AUDIT_MONTHS_REMOVED event on the platform chain. Nothing on
    SQLite, where retention deletes rows.
    """
    if default_connection.vendor != "postgresql":
        return 0
    now = now or timezone.now()
    needed = _needed_since(now)
    if needed is None:
        return 0
    removed = 0
    for first in month_partitions():
        if month_after(first) > needed:
            break
        try:
            removed += _month_remove(first)
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            logger.warning(
                "Audit month %s is being read; it will be dropped on a later run", f"{first:%Y-%m}"
            )
            break
    return removed


def _month_remove(first: datetime) -> int:
    """Sign each chain's retention cut at its last event in the month, then drop the month."""
    name = f"audit_auditevent_y{first.year:04d}m{first.month:02d}"
    key = current_chain_key()
    with transaction.atomic(), default_connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{MONTH_DROP_LOCK_WAIT}'")
        # A table with deferred foreign-key checks pending can't be dropped: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "SELECT DISTINCT ON (COALESCE(tenant_id, 0)) COALESCE(tenant_id, 0), tenant_id, "  # noqa: S608 - our name
            f"sequence, hash FROM {name} ORDER BY COALESCE(tenant_id, 0), sequence DESC"
        )
        lasts = cursor.fetchall()
        if not lasts:
            cursor.execute("SELECT audit_month_drop(%s::date)", [first.date()])
            return 0
        services.chains_lock(tenant_ids=[tenant_id for _, tenant_id, _, _ in lasts])
        chains = AuditChain.objects.in_bulk([chain for chain, _, _, _ in lasts])
        cut = []
        for chain_key, _, sequence, last_hash in lasts:
            chain = chains[chain_key]
            if chain.checkpoint_sequence >= sequence:
                continue
            chain.checkpoint_sequence = sequence
            chain.checkpoint_hash = last_hash
            chain.checkpoint_signature = checkpoint_signature(
                key=key, chain=chain_key, sequence=sequence, hash=last_hash
            )
            chain.checkpoint_at = timezone.now()
            cut.append(chain)
        AuditChain.objects.bulk_update(
            cut,
            ["checkpoint_sequence", "checkpoint_hash", "checkpoint_signature", "checkpoint_at"],
            batch_size=1000,
        )
        cursor.execute("SELECT audit_month_drop(%s::date)", [first.date()])
        removed = cursor.fetchone()[0]
        services.audit_event_record(
            event=AuditEventType.AUDIT_MONTHS_REMOVED,
            actor=None,
            tenant=None,
            details={"month": f"{first:%Y-%m}", "removed": removed, "chains_cut": len(cut)},
        )
    return removed
