"""Self-service domain verification: an owner proves an email domain is theirs with a DNS TXT
record, and the domain is claimed for their tenant's single sign-on.

The owner adds a domain and is given a record to publish: `_portcullis-challenge.<domain>`
holding `portcullis-verification=<token>`, the token random per verification. "Check now" (or
the hourly job, for a week after the domain was added or last checked by hand) looks it up
with dnspython; found, the domain is claimed through the same claim row the operators' override
writes. A claimed domain's record is looked up again daily, and the claim released once the
record has been missing for a week: a domain that changed hands (sold, lapsed) doesn't stay
claimed by its old owner for good, and one day of broken DNS releases nothing. A lookup that
fails (no answer, a server failure) counts neither way.

A domain another tenant has claimed can't be verified here; the owner is told so without
being told which tenant holds it. Operators still claim a domain with a note
(`sso.services.domain_claim`), which no DNS check ever releases.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import dns.exception
import dns.resolver
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.events import AuditEventType
from audit.services import audit_event_record
from sso.models import (
    CHALLENGE_LABEL,
    ClaimedDomain,
    DomainVerification,
    domain_normalize,
    validate_domain,
)
from sso.services import claimed_domain_save
from teams import scopes
from teams.models import Tenant
from teams.rules import act_within

logger = logging.getLogger(__name__)

Outcome = DomainVerification.Outcome

# A domain waiting for its record is looked up by the hourly job for this long after it was
# added or last checked by hand; after that only "Check now" looks again.
PENDING_CHECK_DAYS = 7
# A claimed domain's record is looked up again once a day (the job runs hourly; the slack lets
# each day's check fall in the same hour)...
RECHECK_CLAIMED_AFTER = timedelta(hours=23, minutes=30)
# ...and the claim is released once the record has been missing this long.
RELEASE_AFTER_MISSING = timedelta(days=7)
# How many domains one run of the job looks up, oldest check first: a run stays well inside
# the task time limit however many domains wait (each lookup is bounded by DNS_TIMEOUT).
RECHECK_BATCH = 200
DNS_TIMEOUT = 5.0
DNS_PORT = 53


@dataclass(frozen=True)
class Nameserver:
    host: str
    port: int


def nameserver_from_setting(value: str) -> Nameserver | None:
    """`DNS_RESOLVER` read: "address", "address:port" or "[v6 address]:port", the address an
    IP address; empty is None (the system's resolvers). A port that is not a number raises
    ValueError, as dnspython does for an address that is not one."""
    value = value.strip()
    if not value:
        return None
    if value.startswith("["):
        host, _bracket, rest = value[1:].partition("]")
        port = rest.removeprefix(":")
    elif value.count(":") == 1:
        host, _colon, port = value.partition(":")
    else:
        host, port = value, ""
    number = int(port) if port else DNS_PORT
    if not 0 < number < 65536:
        raise ValueError(f"port {number} out of range")
    return Nameserver(host=host, port=number)


def _resolver() -> dns.resolver.Resolver:
    nameserver = nameserver_from_setting(settings.DNS_RESOLVER)
    if nameserver is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [nameserver.host]
        resolver.port = nameserver.port
    resolver.lifetime = DNS_TIMEOUT
    return resolver


def record_lookup(verification: DomainVerification) -> str:
    """Look the verification's TXT record up now: one of `Outcome`'s found, not_found,
    wrong_value or lookup_failed. A record's strings are joined first (a TXT value longer than
    255 bytes comes as several)."""
    try:
        answer = _resolver().resolve(verification.record_name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return Outcome.NOT_FOUND
    except (dns.exception.DNSException, OSError) as error:
        logger.info("DNS lookup of %s failed: %r", verification.record_name, error)
        return Outcome.LOOKUP_FAILED
    except ValueError as error:
        # DNS_RESOLVER names no IP address and port: every lookup fails until it is fixed.
        logger.warning("DNS_RESOLVER %r is unusable: %s", settings.DNS_RESOLVER, error)
        return Outcome.LOOKUP_FAILED
    values = [b"".join(record.strings).decode("utf-8", "replace").strip() for record in answer]
    return Outcome.FOUND if verification.record_value in values else Outcome.WRONG_VALUE


def domain_verification_refusal_check(*, tenant: Tenant, domain: str) -> None:
    """Raise the ValidationError adding this domain would meet (the admin's form shows it
    beside the field; `domain_verification_start` checks again). A domain claimed by another
    tenant is refused without naming it."""
    domain = domain_normalize(domain)
    validate_domain(domain)
    if len(f"{CHALLENGE_LABEL}.{domain}") > 253:
        raise ValidationError(
            _("That domain is too long to hold the verification record."), code="too_long"
        )
    claimed = ClaimedDomain.objects.filter(domain=domain).first()
    if claimed is not None and claimed.tenant_id == tenant.pk:
        raise ValidationError(
            _("%(domain)s is already claimed for your organisation."),
            code="claimed_here",
            params={"domain": domain},
        )
    if claimed is not None:
        raise ValidationError(
            _(
                "%(domain)s is already claimed by another organisation on this site, so it "
                "can't be verified for yours. If the domain is yours, ask the platform's "
                "operators."
            ),
            code="claimed_elsewhere",
            params={"domain": domain},
        )
    if DomainVerification.objects.filter(tenant=tenant, domain=domain).exists():
        raise ValidationError(
            _("%(domain)s is already on your list of domains to verify."),
            code="listed",
            params={"domain": domain},
        )


def domain_verification_start(
    *, tenant: Tenant, domain: str, actor: User, request: HttpRequest | None = None
) -> DomainVerification:
    """An owner adds a domain to verify: a new token, and the record to publish. Audited."""
    act_within(actor=actor, tenant=tenant, scope=scopes.SECURITY_WRITE)
    domain = domain_normalize(domain)
    domain_verification_refusal_check(tenant=tenant, domain=domain)
    with transaction.atomic():
        verification = DomainVerification.objects.create(tenant=tenant, domain=domain)
        audit_event_record(
            event=AuditEventType.SSO_DOMAIN_VERIFICATION_STARTED,
            actor=actor,
            tenant=tenant,
            request=request,
            details={"domain": domain, "record": verification.record_name},
        )
    return verification


def domain_verification_check(
    *,
    verification: DomainVerification,
    actor: User | None = None,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> DomainVerification:
    """Look the record up now and act on the answer: claim a waiting domain whose record is
    found, or, for a domain this verification claimed, note a missing record and release the
    claim after `RELEASE_AFTER_MISSING`. `actor` is the owner who pressed "Check now", None
    for the hourly job. The lookup is made before any row is locked."""
    if actor is not None:
        act_within(actor=actor, tenant=verification.tenant, scope=scopes.SECURITY_WRITE)
    now = now or timezone.now()
    claimed = ClaimedDomain.objects.filter(domain=verification.domain).first()
    if claimed is not None and claimed.pk != verification.claim_id:
        # Claimed by an operator: for this tenant there is nothing to verify; for another,
        # nothing to look up.
        if claimed.tenant_id != verification.tenant_id:
            return _checked(verification, Outcome.CLAIMED_ELSEWHERE, now=now, by_hand=actor)
        return verification
    outcome = record_lookup(verification)
    with transaction.atomic():
        locked = (
            DomainVerification.objects.select_for_update(of=("self",))
            .select_related("tenant", "claim")
            .filter(pk=verification.pk)
            .first()
        )
        if locked is None:
            # Removed while the lookup ran.
            return verification
        if locked.claim_id is not None:
            _claimed_recheck(locked, outcome, now=now)
        elif outcome == Outcome.FOUND:
            _claim(locked, now=now, actor=actor, request=request)
        else:
            _checked(locked, outcome, now=now, by_hand=actor)
    return locked


def _checked(
    verification: DomainVerification,
    outcome: str,
    *,
    now: datetime,
    by_hand: User | None,
    also: tuple[str, ...] = (),
) -> DomainVerification:
    """Save the check's outcome and time (and the fields named in `also`, already set)."""
    verification.outcome = outcome
    verification.checked_at = now
    fields = ["outcome", "checked_at", *also]
    if by_hand is not None:
        verification.requested_at = now
        fields.append("requested_at")
    verification.save(update_fields=fields)
    return verification


def _claim(
    verification: DomainVerification,
    *,
    now: datetime,
    actor: User | None,
    request: HttpRequest | None,
) -> None:
    try:
        claimed = claimed_domain_save(
            tenant=verification.tenant,
            domain=verification.domain,
            # Kept in the claim for the record, like an operator's note: not translated.
            note=f"DNS TXT record {verification.record_name} verified",
        )
    except ValidationError:
        # Claimed by another tenant in the meantime.
        _checked(verification, Outcome.CLAIMED_ELSEWHERE, now=now, by_hand=actor)
        return
    verification.claim = claimed
    verification.missing_since = None
    _checked(verification, Outcome.FOUND, now=now, by_hand=actor, also=("claim", "missing_since"))
    audit_event_record(
        event=AuditEventType.SSO_DOMAIN_VERIFIED,
        actor=actor,
        tenant=verification.tenant,
        request=request,
        details={"domain": verification.domain, "record": verification.record_name},
    )


def _claimed_recheck(verification: DomainVerification, outcome: str, *, now: datetime) -> None:
    """A claimed domain's daily look: found clears any missing mark; missing for
    `RELEASE_AFTER_MISSING` releases the claim (the verification stays, waiting again)."""
    if outcome == Outcome.FOUND:
        verification.missing_since = None
    elif outcome in (Outcome.NOT_FOUND, Outcome.WRONG_VALUE):
        verification.missing_since = verification.missing_since or now
    _checked(verification, outcome, now=now, by_hand=None, also=("missing_since",))
    if (
        verification.missing_since is None
        or now - verification.missing_since < RELEASE_AFTER_MISSING
    ):
        return
    claimed = verification.claim
    verification.claim = None
    verification.missing_since = None
    verification.save(update_fields=["claim", "missing_since"])
    claimed.delete()
    audit_event_record(
        event=AuditEventType.SSO_DOMAIN_VERIFICATION_LOST,
        actor=None,
        tenant=verification.tenant,
        details={
            "domain": verification.domain,
            "record": verification.record_name,
            "missing_days": RELEASE_AFTER_MISSING.days,
        },
    )


def domain_verification_remove(
    *, verification: DomainVerification, actor: User, request: HttpRequest | None = None
) -> None:
    """An owner takes a domain off the list; one this verification claimed is released with
    it (a domain an operator claimed stays). Audited."""
    act_within(actor=actor, tenant=verification.tenant, scope=scopes.SECURITY_WRITE)
    with transaction.atomic():
        audit_event_record(
            event=AuditEventType.SSO_DOMAIN_VERIFICATION_REMOVED,
            actor=actor,
            tenant=verification.tenant,
            request=request,
            details={"domain": verification.domain, "released": verification.claim_id is not None},
        )
        if verification.claim_id is not None:
            # The claim's deletion takes the verification with it.
            ClaimedDomain.objects.filter(pk=verification.claim_id).delete()
        else:
            verification.delete()


def domain_verifications_recheck(*, now: datetime | None = None) -> int:
    """The hourly job: look up the domains waiting for their record (for `PENDING_CHECK_DAYS`
    after they were added or checked by hand) and the claimed ones not looked at for a day,
    oldest check first, at most `RECHECK_BATCH`. Returns how many were looked up."""
    now = now or timezone.now()
    due = (
        DomainVerification.objects.filter(
            Q(claim__isnull=True, requested_at__gte=now - timedelta(days=PENDING_CHECK_DAYS))
            | Q(claim__isnull=False, checked_at__lte=now - RECHECK_CLAIMED_AFTER)
            | Q(claim__isnull=False, checked_at__isnull=True)
        )
        .exclude(Q(claim__isnull=True) & Q(domain__in=ClaimedDomain.objects.values("domain")))
        .select_related("tenant")
        .order_by(F("checked_at").asc(nulls_first=True), "pk")[:RECHECK_BATCH]
    )
    count = 0
    for verification in due:
        domain_verification_check(verification=verification, now=now)
        count += 1
    return count
