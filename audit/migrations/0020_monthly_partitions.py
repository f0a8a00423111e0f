"""On PostgreSQL the events table becomes partitioned by month of `created_at`.

The existing table is renamed, a partitioned one made in its place with the same columns,
indexes and triggers, a partition made for every month that holds events (and the months ahead),
the rows copied over, and the old table dropped. Rows outside every month's partition land in a
default partition. The primary key becomes (id, created_at), because a partitioned table's
unique keys must hold its partition key; the per-chain unique sequences become plain indexes
for the same reason (each chain's lock and verification keep sequences unique: a repeated one
shows as a break). SQLite keeps one table.

Two functions, owned by the migrating role and run with its rights (SECURITY DEFINER), are the
only way the site's role changes partitions: `audit_month_create` makes a month (beat and the
release call it) and `audit_month_drop` detaches and drops one, refusing while it holds an event
that no signed retention cut has passed.
"""

from django.db import migrations

from audit.partitions import MONTH_FUNCTIONS, months_ahead_create

CONVERT = """
ALTER TABLE audit_auditevent RENAME TO audit_auditevent_unpartitioned;
CREATE SEQUENCE IF NOT EXISTS audit_event_id_seq;
SELECT setval('audit_event_id_seq', COALESCE((SELECT max(id) FROM audit_auditevent_unpartitioned), 0) + 1, false);
CREATE TABLE audit_auditevent (
    id bigint NOT NULL DEFAULT nextval('audit_event_id_seq'),
    event smallint NOT NULL CHECK (event >= 0),
    created_at timestamp with time zone NOT NULL,
    actor_label varchar(254) NOT NULL,
    target_label varchar(254) NOT NULL,
    ip inet,
    user_agent varchar(512) NOT NULL,
    details jsonb NOT NULL,
    actor_id bigint,
    target_id bigint,
    tenant_id bigint CONSTRAINT audit_auditevent_tenant_id_570ea526_fk_teams_tenant_id
        REFERENCES teams_tenant (id) DEFERRABLE INITIALLY DEFERRED,
    hash varchar(64) NOT NULL,
    sequence bigint NOT NULL CHECK (sequence >= 0),
    hash_key_id varchar(16) NOT NULL
) PARTITION BY RANGE (created_at);
ALTER SEQUENCE audit_event_id_seq OWNED BY audit_auditevent.id;
CREATE TABLE audit_auditevent_default PARTITION OF audit_auditevent DEFAULT;
"""

# Made once the old table (whose names these are) is gone.
INDEXES = """
ALTER TABLE audit_auditevent ADD CONSTRAINT audit_auditevent_pkey PRIMARY KEY (id, created_at);
CREATE INDEX audit_actor ON audit_auditevent (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_platform_chain_sequence ON audit_auditevent (sequence) WHERE tenant_id IS NULL;
CREATE INDEX audit_target_event_time ON audit_auditevent (target_id, event, created_at DESC);
CREATE INDEX audit_tenant_by_actor ON audit_auditevent (tenant_id, actor_id, created_at DESC, id DESC)
    WHERE actor_id IS NOT NULL;
CREATE INDEX audit_tenant_by_ip ON audit_auditevent (tenant_id, ip, created_at DESC)
    WHERE ip IS NOT NULL;
CREATE INDEX audit_tenant_chain_sequence ON audit_auditevent (tenant_id, sequence)
    WHERE tenant_id IS NOT NULL;
CREATE INDEX audit_tenant_event_time ON audit_auditevent (tenant_id, event, created_at DESC);
CREATE INDEX audit_tenant_target_time ON audit_auditevent (tenant_id, target_id, created_at DESC, id DESC);
CREATE INDEX audit_tenant_time ON audit_auditevent (tenant_id, created_at DESC, id DESC);
CREATE INDEX audit_time ON audit_auditevent (created_at DESC, id DESC);
"""

TRIGGERS = """
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent_default
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_advance_chain
    AFTER INSERT ON audit_auditevent
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_advance();
"""

COPY_ROWS = """
INSERT INTO audit_auditevent (id, event, created_at, actor_label, target_label, ip, user_agent,
    details, actor_id, target_id, tenant_id, hash, sequence, hash_key_id)
SELECT id, event, created_at, actor_label, target_label, ip, user_agent, details, actor_id,
    target_id, tenant_id, hash, sequence, hash_key_id
  FROM audit_auditevent_unpartitioned;
DROP TABLE audit_auditevent_unpartitioned;
"""

# The head trigger is made after the copy: the heads already say where each chain ends.
PARTITIONED_TRIGGERS_FIRST = TRIGGERS.split("CREATE TRIGGER audit_event_advance_chain")[0]
ADVANCE_TRIGGER = (
    "CREATE TRIGGER audit_event_advance_chain"
    + TRIGGERS.split("CREATE TRIGGER audit_event_advance_chain")[1]
)


UNPARTITION = """
DROP FUNCTION audit_month_drop(date);
DROP FUNCTION audit_month_create(date);
DROP FUNCTION audit_month_name(date);
CREATE TABLE audit_auditevent_plain
    (LIKE audit_auditevent INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER SEQUENCE audit_event_id_seq OWNED BY audit_auditevent_plain.id;
INSERT INTO audit_auditevent_plain SELECT * FROM audit_auditevent;
DROP TABLE audit_auditevent;
ALTER TABLE audit_auditevent_plain RENAME TO audit_auditevent;
ALTER TABLE audit_auditevent
    ADD CONSTRAINT audit_auditevent_tenant_id_570ea526_fk_teams_tenant_id
    FOREIGN KEY (tenant_id) REFERENCES teams_tenant (id) DEFERRABLE INITIALLY DEFERRED;
"""

# The plain table's keys: the id alone, and each chain's sequences unique.
PLAIN_INDEXES = (
    INDEXES.replace("PRIMARY KEY (id, created_at)", "PRIMARY KEY (id)")
    .replace(
        "CREATE INDEX audit_platform_chain_sequence",
        "CREATE UNIQUE INDEX audit_platform_chain_sequence",
    )
    .replace(
        "CREATE INDEX audit_tenant_chain_sequence",
        "CREATE UNIQUE INDEX audit_tenant_chain_sequence",
    )
)
PLAIN_TRIGGERS = TRIGGERS.replace(
    """CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent_default
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
""",
    "",
)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(UNPARTITION)
        cursor.execute(PLAIN_INDEXES)
        cursor.execute(PLAIN_TRIGGERS)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(CONVERT)
        cursor.execute(MONTH_FUNCTIONS)
        cursor.execute("SELECT min(created_at) FROM audit_auditevent_unpartitioned")
        oldest = cursor.fetchone()[0]
    months_ahead_create(connection=schema_editor.connection, since=oldest)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(COPY_ROWS)
        cursor.execute(INDEXES)
        cursor.execute(PARTITIONED_TRIGGERS_FIRST)
        cursor.execute(ADVANCE_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0019_audit_checkpoints"),
    ]

    operations = [migrations.RunPython(partition, unpartition)]
