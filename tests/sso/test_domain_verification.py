"""An owner verifies an email domain by publishing a DNS TXT record, against the suite's own DNS
server: found, not found, a wrong value, a broken DNS host, a domain claimed elsewhere, the
hourly job (waiting domains, then daily re-checks that release a domain whose record is gone
for a week), and the operators' override beside it."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from audit.events import AuditEventType
from audit.models import AuditEvent
from sso.checks import dns_resolver_valid
from sso.domain_verification import (
    domain_verification_check,
    domain_verification_start,
    nameserver_from_setting,
)
from sso.models import ClaimedDomain, DomainVerification
from sso.selectors import provider_for_email
from sso.services import domain_claim
from sso.tasks import recheck_domain_verifications
from teams import scopes
from tests.factories import OperatorFactory, UserFactory
from tests.signing_in import sign_in
from tests.sso.conftest import provider_set_up

pytestmark = pytest.mark.django_db

LIST = "/admin/sso/domainverification/"
ADD = f"{LIST}add/"


def page(verification: DomainVerification) -> str:
    return f"{LIST}{verification.pk}/change/"


def check_url(verification: DomainVerification) -> str:
    return f"{LIST}{verification.pk}/check/"


@pytest.fixture
def owner_client(owner):
    return sign_in(Client(), owner)


def test_an_owner_adds_a_domain_publishes_the_record_and_it_is_claimed(
    owner_client, tenant, owner, oidc, dns_server
):
    provider_set_up(tenant=tenant, owner=owner, oidc=oidc)
    added = owner_client.post(ADD, {"domain": " Northwind.Example. ", "tenant": "999"})

    verification = DomainVerification.objects.get()
    assert added.status_code == 302
    assert added["Location"] == page(verification)
    assert verification.tenant == tenant
    assert verification.domain == "northwind.example"
    assert verification.record_name == "_portcullis-challenge.northwind.example"
    shown = owner_client.get(page(verification)).content.decode()
    assert verification.record_value in shown
    assert verification.record_value.startswith("portcullis-verification=")
    assert "Check now" in shown
    assert "Waiting for the record" in shown
    started = AuditEvent.objects.get(event=AuditEventType.SSO_DOMAIN_VERIFICATION_STARTED)
    assert started.actor == owner
    assert started.details["domain"] == "northwind.example"

    owner_client.post(check_url(verification))
    verification.refresh_from_db()
    assert verification.outcome == DomainVerification.Outcome.NOT_FOUND
    assert verification.claim is None
    assert provider_for_email(email="tess@northwind.example") is None

    dns_server.publish(verification.record_name, "v=spf1 -all", verification.record_value)
    checked = owner_client.post(check_url(verification), follow=True)

    verification.refresh_from_db()
    assert "is verified and claimed for your organisation" in checked.content.decode()
    assert verification.claim.tenant == tenant
    assert verification.checked_at is not None
    assert provider_for_email(email="tess@northwind.example").tenant == tenant
    verified = AuditEvent.objects.get(event=AuditEventType.SSO_DOMAIN_VERIFIED)
    assert verified.actor == owner
    assert verified.details == {
        "domain": "northwind.example",
        "record": "_portcullis-challenge.northwind.example",
    }
    assert "Verified" in owner_client.get(LIST).content.decode()


def test_a_wrong_value_or_a_broken_dns_host_claims_nothing_and_says_why(owner, tenant, dns_server):
    verification = domain_verification_start(tenant=tenant, domain="northwind.example", actor=owner)
    dns_server.publish(verification.record_name, "portcullis-verification=someone-elses-token")
    domain_verification_check(verification=verification, actor=owner)
    verification.refresh_from_db()
    assert verification.outcome == DomainVerification.Outcome.WRONG_VALUE

    dns_server.failing.add(verification.record_name)
    domain_verification_check(verification=verification, actor=owner)
    verification.refresh_from_db()
    assert verification.outcome == DomainVerification.Outcome.LOOKUP_FAILED
    assert not ClaimedDomain.objects.exists()
    assert dns_server.queries.count(verification.record_name) >= 2


def test_a_domain_claimed_by_another_tenant_cant_be_verified_and_nobody_is_named(
    owner_client, tenant, other_tenant, other_owner, dns_server
):
    domain_claim(tenant=other_tenant, domain="contoso.example", note="checked by phone")

    refused = owner_client.post(ADD, {"domain": "contoso.example"})

    text = refused.content.decode()
    assert refused.status_code == 200
    assert "already claimed by another organisation on this site" in text
    assert other_tenant.name not in text
    assert 'value="contoso.example"' in text  # what was typed is kept
    assert not DomainVerification.objects.exists()


def test_a_domain_claimed_elsewhere_after_it_was_added_is_not_looked_up(
    owner_client, owner, tenant, other_tenant, dns_server
):
    verification = domain_verification_start(tenant=tenant, domain="contoso.example", actor=owner)
    dns_server.publish(verification.record_name, verification.record_value)
    domain_claim(tenant=other_tenant, domain="contoso.example", note="operator")

    answer = owner_client.post(check_url(verification), follow=True).content.decode()

    verification.refresh_from_db()
    assert verification.outcome == DomainVerification.Outcome.CLAIMED_ELSEWHERE
    assert verification.claim is None
    assert "already claimed by another organisation" in answer
    assert other_tenant.name not in answer
    assert dns_server.queries == []
    assert ClaimedDomain.objects.get().tenant == other_tenant


def test_two_tenants_verifying_one_domain_only_the_records_holder_gets_it(
    owner, other_owner, tenant, other_tenant, dns_server
):
    ours = domain_verification_start(tenant=tenant, domain="shared.example", actor=owner)
    theirs = domain_verification_start(
        tenant=other_tenant, domain="shared.example", actor=other_owner
    )
    dns_server.publish(ours.record_name, ours.record_value)

    domain_verification_check(verification=theirs, actor=other_owner)
    domain_verification_check(verification=ours, actor=owner)
    domain_verification_check(verification=theirs, actor=other_owner)

    assert ClaimedDomain.objects.get().tenant == tenant
    theirs.refresh_from_db()
    assert theirs.outcome == DomainVerification.Outcome.CLAIMED_ELSEWHERE


def test_the_hourly_job_claims_waiting_domains_for_a_week(owner, tenant, dns_server):
    verification = domain_verification_start(tenant=tenant, domain="northwind.example", actor=owner)
    stale = domain_verification_start(tenant=tenant, domain="old.example", actor=owner)
    DomainVerification.objects.filter(pk=stale.pk).update(
        requested_at=timezone.now() - timedelta(days=8)
    )
    dns_server.publish(verification.record_name, verification.record_value)
    dns_server.publish(stale.record_name, stale.record_value)

    recheck_domain_verifications()

    assert list(ClaimedDomain.objects.values_list("domain", flat=True)) == ["northwind.example"]
    assert stale.record_name not in dns_server.queries
    event = AuditEvent.objects.get(event=AuditEventType.SSO_DOMAIN_VERIFIED)
    assert event.actor is None


def test_a_claimed_domain_is_rechecked_daily_and_released_after_a_week_without_its_record(
    owner_client, owner, tenant, dns_server
):
    verification = domain_verification_start(tenant=tenant, domain="northwind.example", actor=owner)
    dns_server.publish(verification.record_name, verification.record_value)
    domain_verification_check(verification=verification, actor=owner)
    dns_server.queries.clear()
    start = timezone.now()

    with time_machine.travel(start + timedelta(hours=2), tick=False):
        recheck_domain_verifications()
    assert dns_server.queries == []  # checked today already

    dns_server.unpublish(verification.record_name)
    with time_machine.travel(start + timedelta(days=1), tick=False):
        recheck_domain_verifications()
    verification.refresh_from_db()
    assert verification.missing_since is not None
    assert verification.claim is not None
    shown = owner_client.get(page(verification)).content.decode()
    assert "Verified, record missing" in shown

    dns_server.failing.add(verification.record_name)
    for day in range(2, 8):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            recheck_domain_verifications()
    verification.refresh_from_db()
    assert verification.claim is not None, "a failing DNS host neither releases nor forgives"

    dns_server.failing.clear()
    with time_machine.travel(start + timedelta(days=8), tick=False):
        recheck_domain_verifications()

    verification.refresh_from_db()
    assert verification.claim is None
    assert verification.missing_since is None
    assert not ClaimedDomain.objects.exists()
    lost = AuditEvent.objects.get(event=AuditEventType.SSO_DOMAIN_VERIFICATION_LOST)
    assert lost.details["domain"] == "northwind.example"
    assert lost.actor is None


def test_a_record_back_in_time_keeps_the_claim(owner, tenant, dns_server):
    verification = domain_verification_start(tenant=tenant, domain="northwind.example", actor=owner)
    dns_server.publish(verification.record_name, verification.record_value)
    domain_verification_check(verification=verification, actor=owner)
    start = timezone.now()
    dns_server.unpublish(verification.record_name)
    with time_machine.travel(start + timedelta(days=1), tick=False):
        recheck_domain_verifications()
    dns_server.publish(verification.record_name, verification.record_value)
    with time_machine.travel(start + timedelta(days=2), tick=False):
        recheck_domain_verifications()
    with time_machine.travel(start + timedelta(days=9), tick=False):
        recheck_domain_verifications()

    verification.refresh_from_db()
    assert verification.claim is not None
    assert verification.missing_since is None


def test_removing_a_verified_domain_releases_it_and_is_audited(
    owner_client, owner, tenant, dns_server
):
    verification = domain_verification_start(tenant=tenant, domain="northwind.example", actor=owner)
    dns_server.publish(verification.record_name, verification.record_value)
    domain_verification_check(verification=verification, actor=owner)

    removed = owner_client.post(f"{LIST}{verification.pk}/delete/", {"post": "yes"})

    assert removed.status_code == 302
    assert not ClaimedDomain.objects.exists()
    assert not DomainVerification.objects.exists()
    event = AuditEvent.objects.get(event=AuditEventType.SSO_DOMAIN_VERIFICATION_REMOVED)
    assert event.details == {"domain": "northwind.example", "released": True}


def test_operators_keep_their_override_and_the_owner_sees_it(
    owner_client, owner, tenant, dns_server
):
    verification = domain_verification_start(tenant=tenant, domain="northwind.example", actor=owner)
    operator = sign_in(Client(), OperatorFactory())

    claimed = operator.post(
        "/admin/sso/claimeddomain/add/",
        {"tenant": str(tenant.pk), "domain": "northwind.example", "note": "owner called us"},
    )

    assert claimed.status_code == 302
    assert ClaimedDomain.objects.get().note == "owner called us"
    assert (
        "by the platform&#x27;s operators" in owner_client.get(page(verification)).content.decode()
    )
    recheck_domain_verifications()
    assert dns_server.queries == []
    # An operator's claim is never released by a DNS check.
    domain_verification_check(verification=verification, actor=owner)
    assert ClaimedDomain.objects.get().tenant == tenant
    assert owner_client.post(ADD, {"domain": "northwind.example"}).status_code == 200


def test_another_tenants_verification_is_a_404_and_technicians_see_none(
    tenant, technician, other_tenant, other_owner, dns_server
):
    theirs = domain_verification_start(
        tenant=other_tenant, domain="contoso.example", actor=other_owner
    )
    owner_of_ours = sign_in(Client(), other_owner)
    assert owner_of_ours.get(page(theirs)).status_code == 200

    ours = sign_in(Client(), UserFactory(tenant=tenant, builtin=scopes.OWNER))
    assert ours.get(page(theirs)).status_code == 404
    assert ours.post(check_url(theirs)).status_code == 404
    assert sign_in(Client(), technician).get(ADD).status_code in (302, 403)


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        ("", None, None),
        ("10.0.0.2", "10.0.0.2", 53),
        ("127.0.0.1:5353", "127.0.0.1", 5353),
        ("[::1]:5300", "::1", 5300),
        ("::1", "::1", 53),
    ],
)
def test_the_resolver_setting_reads_host_and_port(value, host, port):
    nameserver = nameserver_from_setting(value)
    assert (nameserver and (nameserver.host, nameserver.port)) == ((host, port) if host else None)


def test_the_hourly_job_is_on_the_beat_schedule(settings):
    assert settings.CELERY_BEAT_SCHEDULE["recheck-domain-verifications"] == {
        "task": recheck_domain_verifications.name,
        "schedule": 3600.0,
    }
    assert recheck_domain_verifications.name == "sso.tasks.recheck_domain_verifications"


@pytest.mark.parametrize("value", ["dns.example", "10.0.0.2:domain", "10.0.0.2:70000"])
def test_an_unusable_resolver_setting_is_an_error_at_start_and_fails_lookups_quietly(
    value, settings, owner, tenant
):
    settings.DNS_RESOLVER = value
    assert [error.id for error in dns_resolver_valid(None)] == ["sso.E002"]
    verification = domain_verification_start(tenant=tenant, domain="northwind.example", actor=owner)
    domain_verification_check(verification=verification, actor=owner)
    verification.refresh_from_db()
    assert verification.outcome == DomainVerification.Outcome.LOOKUP_FAILED
