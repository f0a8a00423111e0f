"""Single sign-on writes: a tenant's provider and policy, claimed domains, linked identities,
and the sign-in through a provider."""

import hashlib
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.attempt import PROVIDER, PROVIDER_DOOR, PROVIDER_MFA, SLOT_TO_TAKE, SignInAttempt
from accounts.models import User, normalize_email
from accounts.proofs import sign_in_failure_record
from accounts.sign_in import sign_in_run
from audit.client import client_ip
from audit.events import AuditEventType
from audit.refusals import access_refusal_record
from audit.services import audit_event_record
from sso import client
from sso.encryption import secret_encrypt, secret_reencrypt
from sso.models import ClaimedDomain, IdentityProvider, ProviderIdentity, domain_normalize
from sso.selectors import domain_is_claimed_by, sessions_signed_in_by_provider
from teams import notices, scopes
from teams.models import Tenant, UserSession, is_operator
from teams.rules import act_on, act_within, refuse_granting_more
from teams.services.sessions import tracked_sessions_delete

logger = logging.getLogger(__name__)

PROVIDER_FIELDS = (
    "kind",
    "name",
    "directory_id",
    "hosted_domain",
    "discovery_url",
    "client_id",
    "enabled",
    "policy",
    "provider_mfa_accepted",
    "session_max_age_minutes",
    "new_person_role",
)


# Stands in for the shared cache while it doesn't answer, so a logout token is still good once
# and refusals still counted, per process (as audit.refusals does for refused requests).
FALLBACK_CACHE = LocMemCache("sso-logout", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
SID_MAX_LENGTH = UserSession._meta.get_field("provider_sid").max_length


class SignInThroughProviderRefused(Exception):
    """The provider vouched for someone this site won't sign in; `reason` says why (audited)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def provider_refusal_check(
    *, provider: IdentityProvider, break_glass: list[User], actor: User
) -> None:
    """Raise the ValidationError that saving this provider would meet (the admin's form shows
    it beside the fields; `provider_save` checks again)."""
    if provider.kind == IdentityProvider.Kind.OIDC and provider.discovery_url:
        problem = client.provider_address_problem(provider.discovery_url)
        if problem:
            raise ValidationError({"discovery_url": problem}, code="provider_address")
    if any(person.tenant_id != provider.tenant_id for person in break_glass):
        raise ValidationError(_("Break-glass people must be your own tenant's."), code="foreign")
    role = provider.new_person_role
    if role is not None:
        if role.is_owner:
            raise ValidationError(
                _("People created at their first sign-in can't be made Owners."),
                code="owner_role",
            )
        refuse_granting_more(actor=actor, granted=role.scope_set)
    if provider.policy == IdentityProvider.Policy.REQUIRED and not any(
        person.is_active and person.role is not None and person.role.is_owner
        for person in break_glass
    ):
        raise ValidationError(
            _(
                "Required single sign-on needs at least one active Owner among the break-glass "
                "people, so your MSP can still sign in if the provider is down."
            ),
            code="no_break_glass_owner",
        )


def provider_save(
    *,
    provider: IdentityProvider,
    client_secret: str,
    break_glass: Iterable[User],
    actor: User,
    request: HttpRequest | None = None,
) -> IdentityProvider:
    """Save a tenant's provider and its policy (new or changed), audited.

    `client_secret` empty keeps the stored one; given, it replaces it (encrypted, never shown
    again). Required single sign-on needs an active Owner among the break-glass people, so the
    tenant can still get in when the provider can't answer. A role for people created at their
    first sign-in can't be an Owner's, nor hold more than the actor.
    """
    tenant = provider.tenant
    act_within(actor=actor, tenant=tenant, scope=scopes.SECURITY_WRITE)
    break_glass = list(break_glass)
    provider_refusal_check(provider=provider, break_glass=break_glass, actor=actor)
    adding = provider.pk is None
    if adding and not client_secret:
        raise ValidationError(_("Enter the client secret."), code="secret_required")
    provider.full_clean(exclude=["client_secret_encrypted", "tenant"])
    try:
        return _provider_store(
            provider=provider,
            client_secret=client_secret,
            break_glass=break_glass,
            actor=actor,
            request=request,
        )
    except IntegrityError as error:
        # Two owners adding the tenant's provider at once: one provider per tenant.
        raise ValidationError(
            _("Your tenant already has a single sign-on provider: change that one."),
            code="provider_exists",
        ) from error


def _provider_store(
    *,
    provider: IdentityProvider,
    client_secret: str,
    break_glass: list[User],
    actor: User,
    request: HttpRequest | None,
) -> IdentityProvider:
    tenant = provider.tenant
    adding = provider.pk is None
    with transaction.atomic():
        if adding:
            before = {}
        else:
            stored = IdentityProvider.objects.select_for_update().get(pk=provider.pk)
            before = {name: getattr(stored, name) for name in PROVIDER_FIELDS}
            before["break_glass"] = sorted(stored.break_glass.values_list("email", flat=True))
        if client_secret:
            provider.client_secret_encrypted = secret_encrypt(client_secret)
            provider.secret_set_at = timezone.now()
        provider.save()
        provider.break_glass.set(break_glass)
        after = {name: getattr(provider, name) for name in PROVIDER_FIELDS}
        after["break_glass"] = sorted(person.email for person in break_glass)
        changed = {
            name: [str(before.get(name)), str(value)]
            for name, value in after.items()
            if adding or before.get(name) != value
        }
        secret_replaced = bool(client_secret) and not adding
        # One event per save: the settings that changed (saying whether the secret was
        # replaced too), or the replaced secret alone.
        if changed:
            audit_event_record(
                event=AuditEventType.SSO_PROVIDER_CHANGED,
                actor=actor,
                tenant=tenant,
                request=request,
                details={"created": adding, "changed": changed, "secret_replaced": secret_replaced},
            )
        elif secret_replaced:
            audit_event_record(
                event=AuditEventType.SSO_PROVIDER_SECRET_ROTATED,
                actor=actor,
                tenant=tenant,
                request=request,
                details={"provider": provider.kind},
            )
    return provider


def provider_remove(
    *, provider: IdentityProvider, actor: User, request: HttpRequest | None = None
) -> None:
    """Remove a tenant's provider: everybody signs in with a password again. Linked
    identities stay, so a provider set up again with the same issuer finds its people."""
    act_within(actor=actor, tenant=provider.tenant, scope=scopes.SECURITY_WRITE)
    with transaction.atomic():
        audit_event_record(
            event=AuditEventType.SSO_PROVIDER_REMOVED,
            actor=actor,
            tenant=provider.tenant,
            request=request,
            details={"provider": provider.kind, "client_id": provider.client_id},
        )
        provider.delete()


def claimed_domain_save(*, tenant: Tenant, domain: str, note: str) -> ClaimedDomain:
    """Write a claim row, in the caller's transaction (a savepoint of its own, so a domain
    claimed at the same moment by someone else leaves the caller's transaction usable). A
    domain already claimed, by any tenant, is refused with code `claimed`. The caller records
    the event."""
    claimed = ClaimedDomain(tenant=tenant, domain=domain_normalize(domain), note=note)
    claimed.full_clean()
    try:
        with transaction.atomic():
            claimed.save()
    except IntegrityError as error:
        raise ValidationError(
            _("%(domain)s is already claimed."),
            code="claimed",
            params={"domain": claimed.domain},
        ) from error
    return claimed


def domain_claim(
    *, tenant: Tenant, domain: str, note: str = "", actor: User | None = None
) -> ClaimedDomain:
    """Claim an email domain for a tenant's single sign-on, as a platform operator (the
    command line, or an operator in the admin): the operators' override of the DNS
    verification owners do themselves (sso/domain_verification.py). A domain already claimed,
    by any tenant, is refused."""
    if actor is not None and not is_operator(actor):
        raise PermissionDenied(_("Only platform operators claim domains."))
    with transaction.atomic():
        claimed = claimed_domain_save(tenant=tenant, domain=domain, note=note)
        audit_event_record(
            event=AuditEventType.SSO_DOMAIN_CLAIMED,
            actor=actor,
            tenant=tenant,
            details={"domain": claimed.domain, "note": note},
        )
    return claimed


def domain_release(*, claimed: ClaimedDomain, actor: User | None = None) -> None:
    if actor is not None and not is_operator(actor):
        raise PermissionDenied(_("Only platform operators release domains."))
    with transaction.atomic():
        audit_event_record(
            event=AuditEventType.SSO_DOMAIN_RELEASED,
            actor=actor,
            tenant=claimed.tenant,
            details={"domain": claimed.domain},
        )
        claimed.delete()


def identity_unlink(
    *, identity: ProviderIdentity, actor: User, request: HttpRequest | None = None
) -> None:
    """Forget which provider subject a person is: their next sign-in through the provider
    links again by verified email."""
    act_on(actor=actor, person=identity.user, scope=scopes.SECURITY_WRITE)
    with transaction.atomic():
        audit_event_record(
            event=AuditEventType.SSO_IDENTITY_UNLINKED,
            actor=actor,
            tenant=identity.tenant,
            target=identity.user,
            request=request,
            details={"issuer": identity.issuer, "subject": identity.subject},
        )
        identity.delete()


def _via(provider: IdentityProvider, claims: dict) -> dict:
    return {
        "provider": provider.label,
        "kind": provider.kind,
        "subject": str(claims.get("sub", ""))[:255],
    }


def sign_in_through_provider_fail(
    *,
    request: HttpRequest,
    provider: IdentityProvider | None,
    reason: str,
    claims: dict | None = None,
) -> None:
    """A sign-in through a provider that ended without one: counted toward the lockout like a
    failed password (on the email claim, when there is one, and on the client IP) and audited
    with the provider, the subject and why."""
    claims = claims or {}
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    sign_in_failure_record(
        request=request,
        email=email,
        event=AuditEventType.SSO_SIGN_IN_FAILED,
        details={
            "reason": reason,
            **(_via(provider, claims) if provider is not None else {}),
        },
    )


def _person_for_identity(*, request: HttpRequest, provider: IdentityProvider, claims: dict) -> User:
    """The person this identity signs in, linking it the first time; else refused.

    Once a subject is bound it alone decides, and only within its tenant. The first time, the
    person must already be in the tenant (or be created, when the owner chose a role for that
    and the email's domain is one the tenant claimed) with the provider's verified email, and
    must not be bound to another subject of the same issuer.
    """
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    if any(
        "\x00" in value
        for value in (issuer, subject, claims.get("email"), claims.get("name"))
        if isinstance(value, str)
    ):
        # No database column holds a NUL (PostgreSQL refuses the very query), and no real
        # identity has one.
        raise SignInThroughProviderRefused("claims_invalid")
    identity = (
        ProviderIdentity.objects.filter(issuer=issuer, subject=subject)
        .select_related("user__tenant", "user__role")
        .first()
    )
    if identity is not None:
        if identity.tenant_id != provider.tenant_id:
            raise SignInThroughProviderRefused("subject_of_another_tenant")
        if not identity.user.is_active:
            raise SignInThroughProviderRefused("inactive")
        if identity.user.is_superuser:
            raise SignInThroughProviderRefused("operator")
        ProviderIdentity.objects.filter(pk=identity.pk).update(last_used_at=timezone.now())
        return identity.user
    email = client.verified_email(provider=provider, claims=claims)
    if email is None:
        raise SignInThroughProviderRefused("email_not_verified")
    email = normalize_email(email)
    with transaction.atomic():
        person = (
            User.objects.select_for_update(of=("self",))
            .filter(email=email)
            .select_related("tenant", "role")
            .first()
        )
        if person is not None and person.tenant_id != provider.tenant_id:
            raise SignInThroughProviderRefused("person_of_another_tenant")
        if person is None:
            return _person_create(request=request, provider=provider, claims=claims, email=email)
        if not person.is_active:
            # Refused before binding: a deactivated person's account stays as it was.
            raise SignInThroughProviderRefused("inactive")
        if person.is_superuser:
            # A platform operator acts on every tenant: one tenant's provider, which that
            # tenant's owner controls, never vouches for them.
            raise SignInThroughProviderRefused("operator")
        if ProviderIdentity.objects.filter(user=person, issuer=issuer).exists():
            raise SignInThroughProviderRefused("person_bound_to_another_subject")
        ProviderIdentity.objects.create(
            tenant_id=provider.tenant_id,
            user=person,
            issuer=issuer,
            subject=subject,
            email_at_link=email,
            last_used_at=timezone.now(),
        )
        audit_event_record(
            event=AuditEventType.SSO_IDENTITY_LINKED,
            actor=person,
            tenant=provider.tenant,
            target=person,
            request=request,
            details={**_via(provider, claims), "email": email},
        )
    return person


def _person_create(
    *, request: HttpRequest, provider: IdentityProvider, claims: dict, email: str
) -> User:
    role = provider.new_person_role
    if role is None:
        raise SignInThroughProviderRefused("no_such_person")
    if not domain_is_claimed_by(email=email, provider=provider):
        raise SignInThroughProviderRefused("email_domain_not_claimed")
    name = claims.get("name") if isinstance(claims.get("name"), str) else ""
    try:
        person = User.objects.create_user(
            email, None, full_name=name[:150], tenant=provider.tenant, role=role
        )
    except ValidationError as invalid:
        # The provider vouches for who signed in, not for the email or name being ones this
        # site accepts (a quoted address, a reserved domain, a name with line breaks).
        raise SignInThroughProviderRefused("claims_invalid") from invalid
    ProviderIdentity.objects.create(
        tenant_id=provider.tenant_id,
        user=person,
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        email_at_link=email,
        last_used_at=timezone.now(),
    )
    audit_event_record(
        event=AuditEventType.SSO_PERSON_CREATED,
        actor=None,
        tenant=provider.tenant,
        target=person,
        request=request,
        details={**_via(provider, claims), "email": email, "role": role.name},
    )
    return person


def _sid(claims: dict) -> str:
    """The provider's session id from the ID token, or "" when it sent none the session can
    be found by (one too long to store, or with a NUL): a back-channel logout by `sid` then
    ends nothing, one by `sub` still ends it."""
    sid = claims.get("sid")
    if not isinstance(sid, str) or len(sid) > SID_MAX_LENGTH or "\x00" in sid:
        return ""
    return sid


def sign_in_through_provider(
    *, request: HttpRequest, provider: IdentityProvider, claims: dict
) -> str | None:
    """The provider's door: it vouched for `claims` (checked by `sso.client`), so its person's
    attempt runs the same gates and steps as a password's would. Returns the next step's
    address, or None when signed in. Raises `SignInThroughProviderRefused` (already audited and
    counted as a failure), or accounts' gate refusals (`accounts.gates`).

    The provider's own multi-factor sign-in is proved as its kind (`provider_mfa`) only where
    the tenant accepts it; the factor policy decides where that kind counts (never for someone
    who must use a passkey). The attempt checked no secret of ours, so the lockout gate takes
    its slot."""
    try:
        person = _person_for_identity(request=request, provider=provider, claims=claims)
    except SignInThroughProviderRefused as refusal:
        sign_in_through_provider_fail(
            request=request, provider=provider, reason=refusal.reason, claims=claims
        )
        raise
    provider_mfa = provider.provider_mfa_accepted and client.provider_did_multi_factor(claims)
    attempt = SignInAttempt(
        user_id=person.pk,
        door=PROVIDER_DOOR,
        backend=settings.AUTHENTICATION_BACKENDS[0],
        proved=(PROVIDER,),
        slot=SLOT_TO_TAKE,
        via=_via(provider, claims),
        provider_session={
            "issuer": str(claims["iss"]),
            "subject": str(claims["sub"]),
            "sid": _sid(claims),
        },
    )
    if provider_mfa:
        attempt = attempt.with_proof(PROVIDER_MFA)
    return sign_in_run(request=request, attempt=attempt, user=person)


def provider_secrets_reencrypt() -> int:
    """Encrypt every stored client secret again under the first FIELD_ENCRYPTION_KEY, so the
    keys after it can be dropped. Returns how many were re-encrypted; a secret no key reads
    stops it, with nothing changed."""
    count = 0
    with transaction.atomic():
        for provider in IdentityProvider.objects.select_for_update().only(
            "pk", "client_secret_encrypted"
        ):
            provider.client_secret_encrypted = secret_reencrypt(provider.client_secret_encrypted)
            provider.save(update_fields=["client_secret_encrypted"])
            count += 1
    return count


def _cache_call(method: str, *args, **kwargs):
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception:  # noqa: BLE001 - any cache backend's connection error
        return getattr(FALLBACK_CACHE, method)(*args, **kwargs)


def _minute() -> int:
    return int(timezone.now().timestamp() // 60)


def _refusals_key(request: HttpRequest) -> str:
    return f"sso:logout-refusals:{client_ip(request) or '-'}:{_minute()}"


def logout_refusals_exceeded(*, request: HttpRequest) -> bool:
    """Whether this client address has had `SSO_LOGOUT_REFUSALS_PER_IP` logout tokens refused
    this minute: its requests are then dropped before any signature is checked (recorded as a
    refusal, collapsed like every other). A token that passes counts nothing, so a provider
    signing many people out at once is never turned away."""
    exceeded = (_cache_call("get", _refusals_key(request)) or 0) >= (
        settings.SSO_LOGOUT_REFUSALS_PER_IP
    )
    if exceeded:
        access_refusal_record(
            event=AuditEventType.RATE_LIMIT_DROPPED,
            request=request,
            details={"limit": "SSO_LOGOUT_REFUSALS_PER_IP"},
        )
    return exceeded


def logout_token_refuse(*, provider: IdentityProvider, reason: str, request: HttpRequest) -> None:
    """A logout token refused: counted toward its client address's limit, and recorded in the
    provider's tenant's trail as "Back-channel logout token refused" with the reason, at most
    once per provider, reason and minute (anyone can post a token, and the trail must not be
    flooded; the first of each minute says that, when and why)."""
    key = _refusals_key(request)
    _cache_call("add", key, 0, timeout=120)
    try:
        _cache_call("incr", key)
    except ValueError:  # expired between the two calls
        _cache_call("set", key, 1, timeout=120)
    logger.info("Back-channel logout token for provider %s refused: %s", provider.pk, reason)
    if _cache_call("add", f"sso:logout-refused:{provider.pk}:{reason}:{_minute()}", 1, 120):
        with transaction.atomic():
            audit_event_record(
                event=AuditEventType.SSO_LOGOUT_TOKEN_REFUSED,
                actor=None,
                tenant=provider.tenant,
                request=request,
                details={"reason": reason, "provider": provider.label, "kind": provider.kind},
            )


def _logout_token_spend(*, provider: IdentityProvider, claims: dict) -> bool:
    """Whether this is the first time this provider's logout token (its `jti`) is used; it is
    remembered for as long as the token could be accepted."""
    digest = hashlib.sha256(f"{provider.pk}\n{claims['iss']}\n{claims['jti']}".encode())
    lifetime = settings.SSO_LOGOUT_TOKEN_MAX_AGE_SECONDS + 2 * settings.SSO_CLOCK_LEEWAY_SECONDS
    return bool(_cache_call("add", f"sso:logout-jti:{digest.hexdigest()}", 1, lifetime))


def provider_logout(*, provider: IdentityProvider, claims: dict, request: HttpRequest) -> int:
    """End the sessions the provider's verified logout token names (OpenID Connect Back-Channel
    Logout 1.0, section 2.7): every session it signed in for `sub`, or the one of `sid`.
    Returns how many ended; raises `client.LogoutTokenRefused` for a token used before.

    The provider is the actor, not a person: no `act_on` check stands before it, as none
    stands before the session limits (teams.services.sessions). What it may end is bounded by
    the query itself: sessions of this provider's tenant that this provider's issuer signed
    in. A token naming nobody with a session here is still a success (the person is signed
    out here either way): one "Sessions ended by the provider's back-channel logout" event per
    token, with the subject, the sid and how many ended.
    """
    if not _logout_token_spend(provider=provider, claims=claims):
        raise client.LogoutTokenRefused("logout_token_replayed")
    subject, sid = claims.get("sub"), claims.get("sid")
    with transaction.atomic():
        ended = tracked_sessions_delete(
            sessions_signed_in_by_provider(
                provider=provider, issuer=str(claims["iss"]), subject=subject, sid=sid
            ),
            note=notices.SESSION_ENDED_BY_PROVIDER,
        )
        people = {user_id for user_id, _ in ended}
        audit_event_record(
            event=AuditEventType.SSO_BACKCHANNEL_LOGOUT,
            actor=None,
            tenant=provider.tenant,
            target=User.objects.get(pk=people.pop()) if len(people) == 1 else None,
            request=request,
            details={
                "provider": provider.label,
                "kind": provider.kind,
                "subject": str(subject or "")[:255],
                "sid": str(sid or "")[:255],
                "sessions": len(ended),
            },
        )
    return len(ended)
