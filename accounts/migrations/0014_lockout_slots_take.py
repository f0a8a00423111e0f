"""PostgreSQL: `lockout_slots_take`, accounts.lockout_counters.take_slots in one statement.

The same steps as the portable path, in the same order and under the same advisory locks
(accounts.dblock.hold_lock's names), in one round trip: called in autocommit, the statement is
its own transaction, so the locks are held until its counts are committed, and each statement
inside the function reads what the one before it committed (READ COMMITTED, VOLATILE).
"""

from django.db import migrations

TAKE_SLOTS = r"""
CREATE OR REPLACE FUNCTION lockout_slots_take(
    counter_kinds text[],
    account_keys text[],
    client_ips text[],
    limits integer[],
    lock_names text[],
    attempt_path text,
    taken_at timestamptz,
    expires timestamptz
) RETURNS TABLE (out_kind text, out_attempt_id integer, out_number integer, out_locked_until timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    counters integer := coalesce(array_length(counter_kinds, 1), 0);
    row_ids integer[] := array_fill(NULL::integer, ARRAY[greatest(counters, 1)]);
    live boolean[] := array_fill(false, ARRAY[greatest(counters, 1)]);
    has_older boolean[] := array_fill(false, ARRAY[greatest(counters, 1)]);
    refused boolean := false;
    found_row record;
    counted integer;
    created_id integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(lock_names, 1), 0) LOOP
        PERFORM pg_advisory_xact_lock(hashtext(lock_names[i]));
    END LOOP;

    -- Each counter's newest row, and whether a lock in force refuses the attempt.
    FOR i IN 1 .. counters LOOP
        SELECT a.id, a.failures_since_start, e.expires_at, count(*) OVER () AS rows_of_counter
        INTO found_row
        FROM axes_accessattempt a
        LEFT JOIN axes_accessattemptexpiration e ON e.access_attempt_id = a.id
        WHERE (account_keys[i] IS NOT NULL AND a.username = account_keys[i] AND a.ip_address IS NULL)
           OR (account_keys[i] IS NULL AND a.username IS NULL AND a.ip_address = client_ips[i]::inet)
        ORDER BY a.attempt_time DESC, a.id DESC
        LIMIT 1;
        IF found_row.id IS NULL THEN
            CONTINUE;
        END IF;
        row_ids[i] := found_row.id;
        live[i] := coalesce(found_row.expires_at > taken_at, false);
        IF live[i] AND found_row.failures_since_start >= limits[i] THEN
            refused := true;
            out_kind := counter_kinds[i];
            out_attempt_id := NULL;
            out_number := NULL;
            out_locked_until := found_row.expires_at;
            RETURN NEXT;
        END IF;
        has_older[i] := found_row.rows_of_counter > 1;
    END LOOP;
    IF refused THEN
        RETURN;
    END IF;

    -- Count one more in each (an expired counter starts again at 1 in its own row), relative
    -- to what the row holds, and move or make its expiration.
    FOR i IN 1 .. counters LOOP
        IF has_older[i] THEN
            -- Older rows of the same counter (axes' own handler could leave some behind).
            DELETE FROM axes_accessattemptexpiration WHERE access_attempt_id IN (
                SELECT a.id FROM axes_accessattempt a
                WHERE a.id <> row_ids[i]
                  AND ((account_keys[i] IS NOT NULL AND a.username = account_keys[i] AND a.ip_address IS NULL)
                    OR (account_keys[i] IS NULL AND a.username IS NULL AND a.ip_address = client_ips[i]::inet)));
            DELETE FROM axes_accessattempt a
            WHERE a.id <> row_ids[i]
              AND ((account_keys[i] IS NOT NULL AND a.username = account_keys[i] AND a.ip_address IS NULL)
                OR (account_keys[i] IS NULL AND a.username IS NULL AND a.ip_address = client_ips[i]::inet));
        END IF;
        counted := NULL;
        IF row_ids[i] IS NOT NULL THEN
            UPDATE axes_accessattempt SET
                failures_since_start = CASE WHEN live[i] THEN failures_since_start + 1 ELSE 1 END,
                attempt_time = taken_at
            WHERE id = row_ids[i]
            RETURNING failures_since_start INTO counted;
        END IF;
        IF counted IS NULL THEN
            INSERT INTO axes_accessattempt (
                user_agent, ip_address, username, http_accept, path_info, attempt_time,
                get_data, post_data, failures_since_start
            ) VALUES (
                '', client_ips[i]::inet, account_keys[i], '', left(attempt_path, 255), taken_at,
                '', '', 1
            ) RETURNING id INTO created_id;
            row_ids[i] := created_id;
            counted := 1;
        END IF;
        INSERT INTO axes_accessattemptexpiration (access_attempt_id, expires_at)
        VALUES (row_ids[i], expires)
        ON CONFLICT (access_attempt_id) DO UPDATE SET expires_at = EXCLUDED.expires_at;
        out_kind := counter_kinds[i];
        out_attempt_id := row_ids[i];
        out_number := counted;
        out_locked_until := NULL;
        RETURN NEXT;
    END LOOP;
END;
$$;
"""

DROP = "DROP FUNCTION IF EXISTS lockout_slots_take(text[], text[], text[], integer[], text[], text, timestamptz, timestamptz);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TAKE_SLOTS)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0013_labels_and_event_types"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(create, drop)]
