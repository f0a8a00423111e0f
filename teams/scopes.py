"""The catalogue of permission scopes.

Roles are tenant data holding a set of these keys; code checks scopes, never role names
(the way Sentry checks `org:read` rather than "is this an owner").
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    key: str
    description: str


CATALOGUE: tuple[Scope, ...] = (
    Scope("members:read", "See the tenant's people, their roles and security status."),
    Scope("members:write", "Invite people and change their details and roles."),
    Scope("members:deactivate", "Deactivate and reactivate people."),
    Scope("roles:write", "Create and edit custom roles."),
    Scope("security:write", "Change the tenant's security policy (MFA, passwords, sessions)."),
    Scope("sessions:revoke", "End other people's sessions."),
    Scope("mfa:reset", "Reset a person's second factors so they enrol again."),
    Scope("lockout:unlock", "Unlock a person locked out after failed sign-ins."),
    Scope("audit:read", "Read the tenant's audit trail."),
    Scope("audit:export", "Export the tenant's audit trail as CSV."),
)

SCOPES_BY_KEY: dict[str, Scope] = {scope.key: scope for scope in CATALOGUE}
ALL_SCOPES: frozenset[str] = frozenset(SCOPES_BY_KEY)

# Holding any of these opens the admin: they are the jobs done there. Reading people or the
# audit trail alone does not; those have their own pages.
ADMIN_SCOPES: frozenset[str] = frozenset(
    {
        "members:write",
        "members:deactivate",
        "roles:write",
        "security:write",
        "sessions:revoke",
        "mfa:reset",
        "lockout:unlock",
    }
)


@dataclass(frozen=True)
class BuiltinRole:
    name: str
    scopes: frozenset[str]


OWNER = BuiltinRole("Owner", ALL_SCOPES)
ADMIN = BuiltinRole("Admin", ALL_SCOPES - {"roles:write", "security:write"})
TECHNICIAN = BuiltinRole("Technician", frozenset())
READ_ONLY = BuiltinRole("Read-only", frozenset({"members:read", "audit:read"}))

BUILTIN_ROLES: tuple[BuiltinRole, ...] = (OWNER, ADMIN, TECHNICIAN, READ_ONLY)


def scope_choices() -> list[tuple[str, str]]:
    return [(scope.key, f"{scope.key} — {scope.description}") for scope in CATALOGUE]
