"""The catalogue of permission scopes.

Roles are tenant data holding a set of these keys; code checks scopes, never role names
(the way Sentry checks `org:read` rather than "is this an owner").
"""

from dataclasses import dataclass

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


@dataclass(frozen=True)
class Scope:
    key: str
    description: str


# Code names scopes by these constants, never by bare strings.
MEMBERS_READ = "members:read"
MEMBERS_WRITE = "members:write"
MEMBERS_DEACTIVATE = "members:deactivate"
ROLES_WRITE = "roles:write"
# Holding it makes a person an Owner: the one who runs the tenant's security policy, hears about
# its people's unusual sign-ins, and of whom a tenant always keeps one.
SECURITY_WRITE = "security:write"
SESSIONS_REVOKE = "sessions:revoke"
MFA_RESET = "mfa:reset"
LOCKOUT_UNLOCK = "lockout:unlock"
AUDIT_READ = "audit:read"
AUDIT_EXPORT = "audit:export"

CATALOGUE: tuple[Scope, ...] = (
    Scope(MEMBERS_READ, _("See the tenant's people, their roles and security status.")),
    Scope(MEMBERS_WRITE, _("Invite people and change their details and roles.")),
    Scope(MEMBERS_DEACTIVATE, _("Deactivate and reactivate people.")),
    Scope(ROLES_WRITE, _("Create and edit custom roles.")),
    Scope(SECURITY_WRITE, _("Change the tenant's security policy (MFA, passwords, sessions).")),
    Scope(SESSIONS_REVOKE, _("End other people's sessions.")),
    Scope(MFA_RESET, _("Reset a person's second factors so they enrol again.")),
    Scope(LOCKOUT_UNLOCK, _("Unlock a person locked out after failed sign-ins.")),
    Scope(AUDIT_READ, _("Read the tenant's audit trail.")),
    Scope(AUDIT_EXPORT, _("Export the tenant's audit trail as CSV.")),
)

SCOPES_BY_KEY: dict[str, Scope] = {scope.key: scope for scope in CATALOGUE}
ALL_SCOPES: frozenset[str] = frozenset(SCOPES_BY_KEY)

# Holding any of these opens the admin: they are the jobs done there. Reading people or the
# audit trail alone does not; those have their own pages.
ADMIN_SCOPES: frozenset[str] = frozenset(
    {
        MEMBERS_WRITE,
        MEMBERS_DEACTIVATE,
        ROLES_WRITE,
        SECURITY_WRITE,
        SESSIONS_REVOKE,
        MFA_RESET,
        LOCKOUT_UNLOCK,
    }
)


@dataclass(frozen=True)
class BuiltinRole:
    """A role every tenant is made with. `name` is the stored name (tenant data, in English, the
    key commands and the seed find it by); `label` is how it is shown, in the reader's language."""

    name: str
    scopes: frozenset[str]
    label: str


OWNER = BuiltinRole("Owner", ALL_SCOPES, pgettext_lazy("role", "Owner"))
ADMIN = BuiltinRole(
    "Admin", ALL_SCOPES - {ROLES_WRITE, SECURITY_WRITE}, pgettext_lazy("role", "Admin")
)
TECHNICIAN = BuiltinRole("Technician", frozenset(), pgettext_lazy("role", "Technician"))
READ_ONLY = BuiltinRole(
    "Read-only", frozenset({MEMBERS_READ, AUDIT_READ}), pgettext_lazy("role", "Read-only")
)

BUILTIN_ROLES: tuple[BuiltinRole, ...] = (OWNER, ADMIN, TECHNICIAN, READ_ONLY)
_BUILTIN_LABELS = {role.name: role.label for role in BUILTIN_ROLES}


def role_label(*, name: str, is_builtin: bool) -> str:
    """A role's name as shown: a built-in role's label in the active language (the stored name is
    left alone), a tenant's own role as its people typed it."""
    return str(_BUILTIN_LABELS.get(name, name)) if is_builtin else name


def scope_choices() -> list[tuple[str, str]]:
    return [
        (scope.key, format_lazy("{} — {}", scope.key, scope.description)) for scope in CATALOGUE
    ]
