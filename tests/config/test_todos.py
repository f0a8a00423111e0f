"""The dashboard's "What needs doing": each to-do with its count and the link that fixes it,
gone once fixed; "all is well" when nothing is left; another tenant's never counted."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.services import lockout_unlock
from audit.models import AuditChain, AuditDelivery, AuditWebhook
from reviews.models import AccessReview
from support.models import RecoveryRequest
from teams import scopes
from teams.models import Role
from tests.factories import OperatorFactory, UserFactory
from tests.signing_in import sign_in, sign_in_attempt


def lock_out(person: User) -> None:
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(Client(), person.email, "not-the-password")


def recovery_waiting(person: User) -> RecoveryRequest:
    return RecoveryRequest.objects.create(
        tenant=person.tenant, person=person, reason=RecoveryRequest.Reason.LOST_FACTORS
    )


def invited(tenant, *, sent_ago: timedelta, email: str) -> User:
    person = UserFactory(tenant=tenant, email=email)
    User.objects.filter(pk=person.pk).update(
        password=make_password(None),
        password_changed_at=None,
        invitation_sent_at=timezone.now() - sent_ago,
        date_joined=timezone.now() - sent_ago,
    )
    return person


def failing_webhook(tenant) -> AuditWebhook:
    webhook = AuditWebhook.objects.create(
        tenant=tenant, url="https://receiver.example/events", secret="whsec_x"
    )
    AuditChain.objects.get_or_create(key=tenant.pk)
    AuditDelivery.objects.create(
        destination=AuditDelivery.Destination.WEBHOOK,
        chain_key=tenant.pk,
        webhook=webhook,
        attempts=6,
        failing_since=timezone.now() - timedelta(minutes=40),
        failure_kind=AuditDelivery.Failure.ANSWERED,
        failure_status=503,
        last_error="webhook: HTTP 503",
    )
    return webhook


def everything_wrong(tenant) -> dict:
    """One of each to-do in `tenant`."""
    domain = f"{tenant.slug}.example"
    technician = UserFactory(tenant=tenant, builtin=scopes.TECHNICIAN, email=f"tech@{domain}")
    Role.objects.filter(tenant=tenant, name=scopes.TECHNICIAN.name).update(require_mfa=True)
    lock_out(technician)
    recovery = recovery_waiting(technician)
    invitee = invited(tenant, sent_ago=timedelta(days=2), email=f"new@{domain}")
    breached = UserFactory(tenant=tenant, email=f"leaky@{domain}")
    User.objects.filter(pk=breached.pk).update(password_breached_at=timezone.now())
    tenant.__class__.objects.filter(pk=tenant.pk).update(
        created_at=timezone.now() - timedelta(days=120)
    )
    webhook = failing_webhook(tenant)
    return {
        "technician": technician,
        "recovery": recovery,
        "invitee": invitee,
        "breached": breached,
        "webhook": webhook,
    }


def todo(page: str, key: str) -> str | None:
    found = re.search(rf'<li class="todo todo-{key}">(.*?)</li>', page, re.S)
    return found.group(1) if found else None


@pytest.fixture
def owner_browser(owner) -> Client:
    return sign_in(Client(), owner)


def test_each_to_do_shows_its_count_and_the_link_that_fixes_it(clock, tenant, owner_browser):
    everything_wrong(tenant)

    page = owner_browser.get("/").content.decode()

    assert "What needs doing" in page
    assert "1 recovery request waiting" in todo(page, "recovery")
    assert 'href="/recovery/requests/"' in todo(page, "recovery")
    # The technician, locked out, also lacks the factor their role requires.
    assert "1 person locked out" in todo(page, "locked")
    assert 'href="/admin/accounts/user/?locked=yes"' in todo(page, "locked")
    no_factor = todo(page, "no_factor")
    assert "people without the second factor their role requires" in no_factor
    assert 'href="/access-review/?flag=no_mfa_required"' in no_factor
    assert "1 invitation lapsing within 2 days or lapsed" in todo(page, "invitations")
    assert 'href="/admin/accounts/user/?invitation=lapsing"' in todo(page, "invitations")
    assert "The access review is due" in todo(page, "access_review")
    assert 'href="/access-review/"' in todo(page, "access_review")
    webhook = todo(page, "webhook")
    assert "The audit webhook is failing" in webhook
    assert "— 6 tries — the receiver answered 503" in webhook
    assert f'href="/admin/audit/auditwebhook/{AuditWebhook.objects.get().pk}/change/"' in webhook
    assert "1 person&#x27;s password was found in a data breach" in todo(page, "breached")
    assert 'href="/admin/accounts/user/?breached=yes"' in todo(page, "breached")
    assert "All is well" not in page


def test_the_linked_people_lists_show_the_people_counted(clock, tenant, owner_browser):
    wrong = everything_wrong(tenant)

    locked = owner_browser.get("/admin/accounts/user/?locked=yes").content.decode()
    lapsing = owner_browser.get("/admin/accounts/user/?invitation=lapsing").content.decode()
    breached = owner_browser.get("/admin/accounts/user/?breached=yes").content.decode()

    assert wrong["technician"].email in locked
    assert wrong["invitee"].email not in locked
    assert wrong["invitee"].email in lapsing
    assert wrong["technician"].email not in lapsing
    assert wrong["breached"].email in breached
    assert wrong["technician"].email not in breached


def test_to_dos_go_once_fixed_and_all_is_well_is_said(clock, tenant, owner, owner_browser):
    wrong = everything_wrong(tenant)

    lockout_unlock(user=wrong["technician"], actor=owner)
    RecoveryRequest.objects.update(status=RecoveryRequest.Status.RESOLVED)
    Role.objects.filter(tenant=tenant).update(require_mfa=False)
    User.objects.filter(pk=wrong["invitee"].pk).update(last_login=timezone.now())
    User.objects.filter(pk=wrong["breached"].pk).update(password_breached_at=None)
    AccessReview.objects.create(tenant=tenant, reviewer=owner, people_reviewed=4, flagged=0)
    AuditDelivery.objects.update(attempts=0, failing_since=None, delivered_at=timezone.now())

    page = owner_browser.get("/").content.decode()

    assert '<li class="todo' not in page
    assert "All is well" in page
    assert "Nothing needs your attention" in page


def test_an_invitation_lapsing_later_is_not_a_to_do_yet(clock, tenant, owner_browser):
    invited(tenant, sent_ago=timedelta(hours=1), email="fresh@northwind.example")

    assert todo(owner_browser.get("/").content.decode(), "invitations") is None


def test_another_tenants_troubles_are_never_counted(clock, tenant, other_tenant, owner_browser):
    everything_wrong(other_tenant)

    page = owner_browser.get("/").content.decode()

    assert '<li class="todo' not in page
    assert "All is well" in page


def test_a_technician_sees_no_to_do_list(clock, tenant, client_signed_in):
    everything_wrong(tenant)

    page = client_signed_in.get("/").content.decode()

    assert "What needs doing" not in page


def test_the_dashboard_reads_its_to_dos_in_a_bounded_number_of_queries(
    clock, tenant, owner_browser, django_assert_max_num_queries
):
    everything_wrong(tenant)
    owner_browser.get("/")

    # The page around them (session, person, factors, sign-ins: seven) and one per to-do.
    with django_assert_max_num_queries(14):
        first = owner_browser.get("/").content.decode()
    for n in range(5):
        lock_out(UserFactory(tenant=tenant, email=f"more{n}@northwind.example"))
        invited(tenant, sent_ago=timedelta(days=3), email=f"late{n}@northwind.example")
    with django_assert_max_num_queries(14):
        more = owner_browser.get("/").content.decode()

    assert todo(first, "webhook") is not None
    assert "6 people locked out" in todo(more, "locked")
    assert "6 invitations lapsing" in todo(more, "invitations")


def test_an_operator_sees_the_platform_wide_view(clock, tenant, other_tenant, settings):
    everything_wrong(tenant)
    lock_out(UserFactory(tenant=other_tenant, email="second@contoso.example"))
    failing_webhook(other_tenant)
    settings.AUDIT_SYSLOG_URL = "tcp://syslog.example:514"
    AuditDelivery.objects.create(
        destination=AuditDelivery.Destination.SYSLOG,
        chain_key=0,
        attempts=2,
        failing_since=timezone.now(),
        failure_kind=AuditDelivery.Failure.CONNECT,
    )
    browser = sign_in(Client(), OperatorFactory())

    page = browser.get("/").content.decode()

    assert "2 people locked out" in todo(page, "locked")
    assert "/admin/support/recoveryrequest/?status__exact=open" in todo(page, "recovery")
    assert "/admin/reviews/accessreviewentry/?flag=no_mfa_required" in todo(page, "no_factor")
    assert "Audit webhooks are failing" in todo(page, "webhook")
    assert 'href="/admin/audit/auditwebhook/"' in todo(page, "webhook")
    assert "— 2 tries — could not connect" in todo(page, "syslog")
    assert todo(page, "access_review") is None
