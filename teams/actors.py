"""Actors that are not people: what acts on a tenant's people through the same guard.

`teams.rules.act_on` and the people services take an `actor`, and there is no system actor.
A tenant's directory (SCIM provisioning, authenticated by a provisioning token) acts on its
people all the same, so it is an actor of its own: one tenant, a fixed set of scopes, and a
label the audit trail shows ("provisioning: <token name>"). It passes or fails `act_on` like
a person holding those scopes would: another tenant's person is refused, an operator is
refused, and a person whose role holds a scope it lacks is "above" it.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from teams.models import Tenant


@dataclass(frozen=True, eq=False)
class ServiceActor:
    """A non-person actor within one tenant, holding `scopes_held`.

    It carries the attributes the guard and the audit writer read from a person: no primary
    key (the event's actor id stays empty), active, not an operator, no role of its own, and
    `email` as the label recorded as the event's actor.
    """

    tenant: Tenant
    label: str
    scopes_held: frozenset[str]

    pk = None
    role = None
    role_id = None
    is_active = True
    is_superuser = False
    is_staff = False
    is_authenticated = True
    is_anonymous = False

    @property
    def tenant_id(self) -> int:
        return self.tenant.pk

    @property
    def email(self) -> str:
        return self.label

    def get_full_name(self) -> str:
        return str(_("your organisation's directory"))

    def __str__(self) -> str:
        return self.label
