"""Two database roles on PostgreSQL: one migrates and owns the tables, the other runs the site.

The site's role may read and write the tables it needs, but it owns none, can create nothing,
and holds only SELECT and INSERT on the audit log. So the running site can't rewrite history:
no UPDATE, DELETE or TRUNCATE on `audit_auditevent`, and no DROP TRIGGER or ALTER TABLE, which
take ownership. Old events leave only through `audit_events_remove` (audit migration 0012),
which runs with its owner's rights and deletes from the oldest end of one chain; retention then
records a checkpoint that only the audit chain key can sign, so a removal made with the
database alone shows in `verify_audit_log`.
"""

import re

ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class RoleNameError(ValueError):
    """Not a plain role name: the grants are written into SQL, so nothing else is accepted."""


def _role(name: str) -> str:
    if not ROLE_NAME.match(name):
        raise RoleNameError(
            f"{name!r} is not a plain PostgreSQL role name (letters, digits and _ only)."
        )
    return f'"{name}"'


def site_role_grants(*, site_role: str, owner_role: str) -> list[str]:
    """The statements, run as the owning role, that give the site's role what it needs."""
    site, owner = _role(site_role), _role(owner_role)
    return [
        f"GRANT USAGE ON SCHEMA public TO {site}",
        f"REVOKE CREATE ON SCHEMA public FROM {site}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {site}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {site}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_auditevent FROM {site}",
        # Each month of the audit log is a table of its own, which the grant above reached.
        "DO $$ DECLARE month regclass; BEGIN FOR month IN SELECT inhrelid::regclass "  # noqa: S608 - a checked role name
        "FROM pg_inherits WHERE inhparent = 'audit_auditevent'::regclass LOOP "
        "EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %s FROM %s', "
        f"month, {site_role!r}::regrole); END LOOP; END $$",
        f"GRANT EXECUTE ON FUNCTION audit_events_remove(bigint, bigint) TO {site}",
        f"GRANT EXECUTE ON FUNCTION audit_month_create(date) TO {site}",
        f"GRANT EXECUTE ON FUNCTION audit_month_drop(date) TO {site}",
        # Tables later migrations create are the site's to use too (the audit table is not new).
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {site}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {site}",
    ]


# Each row names something the site's role can still do that it must not.
SITE_ROLE_CHECKS = """
SELECT 'is a superuser, which bypasses every privilege' FROM pg_roles
 WHERE rolname = %(site)s AND rolsuper
UNION ALL
SELECT 'is a member of ' || %(owner)s || ', so it holds its ownership'
 WHERE pg_has_role(%(site)s, %(owner)s, 'MEMBER')
UNION ALL
SELECT 'owns the table ' || tablename FROM pg_tables
 WHERE schemaname = 'public' AND tableowner = %(site)s
UNION ALL
SELECT 'may create objects in the schema public'
 WHERE has_schema_privilege(%(site)s, 'public', 'CREATE')
UNION ALL
SELECT 'holds ' || privilege || ' on audit_auditevent'
  FROM unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) AS privilege
 WHERE has_table_privilege(%(site)s, 'audit_auditevent', privilege)
UNION ALL
SELECT 'holds ' || privilege || ' on ' || inhrelid::regclass::text
  FROM pg_inherits, unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) AS privilege
 WHERE inhparent = 'audit_auditevent'::regclass
   AND has_table_privilege(%(site)s, inhrelid, privilege)
"""


def site_role_problems(cursor, *, site_role: str, owner_role: str) -> list[str]:
    """What the site's role can still do that it must not; empty when the split holds."""
    cursor.execute(SITE_ROLE_CHECKS, {"site": site_role, "owner": owner_role})
    return [f"{site_role} {row[0]}" for row in cursor.fetchall()]
