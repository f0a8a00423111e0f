from django.db.models import QuerySet

from accounts.attempt import PROVIDER_DOOR, SignInAttempt
from accounts.models import User, normalize_email
from accounts.stages import SINGLE_SIGN_ON_REQUIRED, DoorRefusal, HomeRealm
from sso.models import ClaimedDomain, IdentityProvider, domain_normalize
from teams.models import UserSession


def email_domain(email: str) -> str:
    _, _, domain = normalize_email(email).rpartition("@")
    return domain_normalize(domain)


def provider_for_email(*, email: str) -> IdentityProvider | None:
    """Home-realm discovery: the enabled provider of the tenant that claimed this email's
    domain, if any. What the email is typed as never decides more than its domain."""
    domain = email_domain(email)
    if not domain:
        return None
    claim = ClaimedDomain.objects.filter(domain=domain).select_related("tenant").first()
    if claim is None:
        return None
    return (
        IdentityProvider.objects.filter(tenant=claim.tenant, enabled=True)
        .select_related("tenant")
        .first()
    )


def home_realm_of(email: str) -> HomeRealm | None:
    """`accounts.stages` home-realm discovery for the sign-in page."""
    provider = provider_for_email(email=email) if "@" in email else None
    if provider is None:
        return None
    return HomeRealm(
        label=provider.label, required=provider.policy == IdentityProvider.Policy.REQUIRED
    )


def domain_is_claimed_by(*, email: str, provider: IdentityProvider) -> bool:
    return ClaimedDomain.objects.filter(
        domain=email_domain(email), tenant_id=provider.tenant_id
    ).exists()


def break_glass_owners(*, provider: IdentityProvider) -> list[User]:
    """The tenant's active Owners who may still sign in with a password."""
    return [
        person
        for person in provider.break_glass.filter(is_active=True).select_related("role")
        if person.role is not None and person.role.is_owner
    ]


def door_refusal_for(*, attempt: SignInAttempt, user: User) -> DoorRefusal | None:
    """`accounts.stages` door rule: required single sign-on shuts every door but the
    provider's (the password, a passkey alone) for all but the tenant's break-glass people."""
    if attempt.door == PROVIDER_DOOR:
        return None
    instead = password_refusal_for(user)
    return DoorRefusal(reason=SINGLE_SIGN_ON_REQUIRED, instead=instead) if instead else None


def password_refusal_for(user: User) -> str | None:
    """`accounts.stages` password refusal: the provider's name when this person's tenant
    requires single sign-on and they are not one of its break-glass people.

    An Owner is never refused while no active Owner is break-glass (one was demoted or
    deactivated since the policy was saved): a tenant must keep someone who can sign in
    without the provider. A tenant without required single sign-on (its flag, kept by
    sso/receivers.py, comes with the person's tenant) costs no query.
    """
    if not user.tenant_id or not user.tenant.single_sign_on_required:
        return None
    provider = (
        IdentityProvider.objects.filter(
            tenant_id=user.tenant_id, enabled=True, policy=IdentityProvider.Policy.REQUIRED
        )
        .only("pk", "kind", "tenant_id")
        .first()
    )
    if provider is None or provider.break_glass.filter(pk=user.pk).exists():
        return None
    if user.role is not None and user.role.is_owner and not break_glass_owners(provider=provider):
        return None
    return provider.label


def sessions_signed_in_by_provider(
    *, provider: IdentityProvider, issuer: str, subject: str | None, sid: str | None
) -> QuerySet[UserSession]:
    """The tenant's sessions this provider signed in for `subject` (all of them) or for its
    session `sid` (that one), or both when both are given: what a back-channel logout ends."""
    sessions = UserSession.objects.for_tenant(provider.tenant).filter(provider_issuer=issuer)
    if subject:
        sessions = sessions.filter(provider_subject=subject)
    if sid:
        sessions = sessions.filter(provider_sid=sid)
    return sessions
