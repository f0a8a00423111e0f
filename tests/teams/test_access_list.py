"""The IP access list: enforced at sign-in after the password and on every request, per role,
with expiring exceptions, an exempt Owner and a guard against shutting oneself out."""

import getpass
import io
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, RequestFactory
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import AccessListEntry, AccessListException, Tenant, UserSession
from teams.services.access_list import (
    access_list_clear,
    access_list_entry_delete,
    access_list_entry_save,
    access_list_exception_save,
    access_list_switch,
)
from tests.factories import OperatorFactory, UserFactory, builtin_role
from tests.signing_in import VERIFY, device_code, sign_in, sign_in_attempt
from tests.teams.queries import statements_run

OFFICE = "192.0.2.0/24"
INSIDE = "192.0.2.7"
OUTSIDE = "198.51.100.1"
REFUSAL = "Your MSP allows sign-in only from its approved networks; ask your owner"


def allow(tenant, network, label="Office", roles=()):
    return access_list_entry_save(
        entry=AccessListEntry(tenant=tenant, network=network, label=label),
        roles=roles,
        actor=None,
    )


def switch_on(tenant):
    return access_list_switch(tenant=tenant, enabled=True, actor=None)


def sign_in_from(person, password, ip, **extra):
    client = Client(REMOTE_ADDR=ip)
    response = sign_in_attempt(client, person.email, password, **extra)
    return client, response


@pytest.fixture
def office_only(tenant, owner):
    allow(tenant, OFFICE)
    switch_on(tenant)
    return tenant


def test_list_is_off_by_default_and_entries_alone_do_not_enforce_it(tenant, technician, password):
    allow(tenant, OFFICE)

    _, response = sign_in_from(technician, password, OUTSIDE)

    assert response.status_code == 302
    assert not Tenant.objects.get(pk=tenant.pk).access_list_enabled


def test_ipv4_inside_the_range_signs_in(office_only, technician, password):
    _, response = sign_in_from(technician, password, INSIDE)

    assert response.status_code == 302


def test_refused_sign_in_shows_the_page_audits_the_address_and_keeps_nobody_signed_in(
    office_only, technician, password
):
    client, response = sign_in_from(technician, password, OUTSIDE)

    assert response.status_code == 403
    assert REFUSAL in response.content.decode()
    assert OUTSIDE in response.content.decode()
    event = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST)
    assert (event.target, event.tenant, event.ip) == (technician, technician.tenant, OUTSIDE)
    assert event.details == {"ip": OUTSIDE}
    assert not AuditEvent.objects.filter(
        event__in=[AuditEventType.SIGN_IN_FAILED, AuditEventType.SIGN_IN_SUCCEEDED]
    ).exists()
    assert not UserSession.objects.exists()
    technician.refresh_from_db()
    assert technician.last_login is None
    assert client.get("/").status_code == 302


def test_refused_sign_ins_are_not_counted_as_wrong_passwords(
    office_only, technician, password, settings
):
    for _ in range(settings.LOCKOUT_FAILURES + 2):
        assert sign_in_from(technician, password, OUTSIDE)[1].status_code == 403

    _, response = sign_in_from(technician, password, INSIDE)

    assert response.status_code == 302


def test_wrong_password_from_outside_looks_like_any_wrong_password(office_only, technician):
    client = Client(REMOTE_ADDR=OUTSIDE)
    known = client.post("/accounts/login/", {"username": technician.email, "password": "x" * 20})
    unknown = client.post(
        "/accounts/login/", {"username": "nobody@x.example", "password": "y" * 20}
    )

    assert known.status_code == unknown.status_code == 200
    assert REFUSAL not in known.content.decode()
    assert not AuditEvent.objects.filter(
        event=AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST
    ).exists()


def test_ipv6_ranges_and_ipv4_mapped_addresses(tenant, owner, technician, password):
    allow(tenant, "2001:DB8:1::/48", label="VPN")
    allow(tenant, OFFICE)
    switch_on(tenant)

    assert AccessListEntry.objects.filter(network="2001:db8:1::/48").exists()
    assert sign_in_from(technician, password, "2001:db8:1:ffff::5")[1].status_code == 302
    assert sign_in_from(technician, password, "2001:db8:2::1")[1].status_code == 403
    assert sign_in_from(technician, password, f"::ffff:{INSIDE}")[1].status_code == 302


def test_client_address_is_read_only_as_deep_as_the_trusted_proxies(
    office_only, technician, password, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    through_proxy = Client(**proxy, HTTP_X_FORWARDED_FOR=f"{OUTSIDE}, {INSIDE}")
    spoofed = Client(**proxy, HTTP_X_FORWARDED_FOR=f"{INSIDE}, {OUTSIDE}")
    credentials = {"username": technician.email, "password": password}

    assert through_proxy.post("/accounts/login/", credentials).status_code == 302
    assert spoofed.post("/accounts/login/", credentials).status_code == 403
    event = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST)
    assert event.details == {"ip": OUTSIDE}


def test_a_session_whose_address_leaves_the_list_ends(office_only, technician, password):
    client, _ = sign_in_from(technician, password, INSIDE)
    assert client.get("/").status_code == 200

    moved = client.get("/", REMOTE_ADDR=OUTSIDE)

    assert moved.status_code == 403
    assert REFUSAL in moved.content.decode()
    assert not UserSession.objects.filter(user=technician).exists()
    event = AuditEvent.objects.get(event=AuditEventType.SESSION_ENDED_BY_ACCESS_LIST)
    assert (event.target, event.ip) == (technician, OUTSIDE)
    back_inside = client.get("/")
    assert back_inside.status_code == 302
    assert "/accounts/login/" in back_inside["Location"]


def test_switching_the_list_on_ends_sessions_outside_it_on_their_next_request(
    tenant, owner, technician, password
):
    client, _ = sign_in_from(technician, password, OUTSIDE)
    allow(tenant, OFFICE)
    assert client.get("/").status_code == 200

    switch_on(tenant)

    assert client.get("/").status_code == 403


def test_entries_for_a_role_hold_only_that_role(tenant, owner, technician, password):
    admin = UserFactory(tenant=tenant, builtin=scopes.ADMIN)
    allow(tenant, OFFICE, roles=[builtin_role(tenant, scopes.TECHNICIAN)])
    allow(tenant, "203.0.113.0/24", label="VPN", roles=[builtin_role(tenant, scopes.TECHNICIAN)])
    switch_on(tenant)

    assert sign_in_from(technician, password, "203.0.113.9")[1].status_code == 302
    assert sign_in_from(technician, password, OUTSIDE)[1].status_code == 403
    assert sign_in_from(admin, password, OUTSIDE)[1].status_code == 302


def test_an_entry_for_everybody_holds_every_role(office_only, tenant, password):
    admin = UserFactory(tenant=tenant, builtin=scopes.ADMIN)

    assert sign_in_from(admin, password, OUTSIDE)[1].status_code == 403


def test_the_exempt_owner_signs_in_from_anywhere(office_only, tenant, owner, password):
    assert Tenant.objects.get(pk=tenant.pk).access_list_exempt_owner == owner

    assert sign_in_from(owner, password, OUTSIDE)[1].status_code == 302


def test_exempt_owner_moves_to_another_owner_when_deactivated(office_only, tenant, owner):
    from teams.services.people import person_deactivate

    second = UserFactory(tenant=tenant, builtin=scopes.OWNER)
    person_deactivate(person=owner, actor=second)

    assert Tenant.objects.get(pk=tenant.pk).access_list_exempt_owner == second


def test_exceptions_let_a_person_in_until_they_expire(office_only, tenant, technician, password):
    access_list_exception_save(
        exception=AccessListException(
            tenant=tenant, user=technician, expires_at=timezone.now() + timedelta(minutes=20)
        ),
        actor=None,
    )
    client, response = sign_in_from(technician, password, OUTSIDE)
    assert response.status_code == 302

    with time_machine.travel(timezone.now() + timedelta(minutes=21)):
        assert client.get("/").status_code == 403
        assert sign_in_from(technician, password, OUTSIDE)[1].status_code == 403


def test_exceptions_must_end_in_the_future_within_a_year(tenant, technician):
    from django.core.exceptions import ValidationError

    for expires_at in (timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(days=400)):
        with pytest.raises(ValidationError):
            access_list_exception_save(
                exception=AccessListException(
                    tenant=tenant, user=technician, expires_at=expires_at
                ),
                actor=None,
            )


def test_a_normal_page_costs_no_query_without_a_list_and_one_with_it(
    tenant, owner, technician, password
):
    client, _ = sign_in_from(technician, password, INSIDE)
    client.get("/")

    without = statements_run(lambda: client.get("/"))
    allow(tenant, OFFICE)
    switch_on(tenant)
    client.get("/")
    with_list = statements_run(lambda: client.get("/"))

    assert with_list == without + 1


def test_a_page_without_a_list_runs_what_it_ran_before_the_list_existed(
    tenant, technician, password, settings
):
    client, _ = sign_in_from(technician, password, INSIDE)
    client.get("/")
    with_middleware = statements_run(lambda: client.get("/"))
    settings.MIDDLEWARE = [
        name for name in settings.MIDDLEWARE if name != "teams.middleware.AccessListMiddleware"
    ]

    assert statements_run(lambda: client.get("/")) == with_middleware


def test_every_change_is_audited(tenant, owner):
    allow(tenant, OFFICE)
    switch_on(tenant)

    actions = [
        event.details["action"]
        for event in AuditEvent.objects.filter(event=AuditEventType.ACCESS_LIST_CHANGED).order_by(
            "sequence"
        )
    ]
    assert actions == ["entry added", "switched on"]


# --- the operators' command


def test_operator_command_clears_the_list_and_audits_it_naming_the_operator(
    office_only, tenant, technician, password
):
    operator = OperatorFactory(email="ops@msp-host.example")
    out = io.StringIO()

    call_command(
        "access_list", "--tenant", tenant.slug, "--clear", "--operator", operator.email, stdout=out
    )

    assert "1 entry removed" in out.getvalue()
    assert not AccessListEntry.objects.filter(tenant=tenant).exists()
    assert not Tenant.objects.get(pk=tenant.pk).access_list_enabled
    event = AuditEvent.objects.filter(event=AuditEventType.ACCESS_LIST_CHANGED).latest("sequence")
    assert event.details["action"] == "cleared by an operator"
    assert event.details["run_by"] == getpass.getuser()
    assert (event.tenant, event.actor) == (tenant, operator)
    assert sign_in_from(technician, password, OUTSIDE)[1].status_code == 302


@pytest.mark.parametrize(
    ("operator", "message"),
    [
        (None, "--clear needs --operator"),
        ("tech@northwind.example", "No active operator with the email 'tech@northwind.example'"),
        ("nobody@msp-host.example", "No active operator with the email"),
    ],
)
def test_operator_command_clears_only_for_a_named_active_operator(
    office_only, tenant, technician, operator, message
):
    named = ["--operator", operator] if operator else []

    with pytest.raises(CommandError, match=message) as refused:
        call_command("access_list", "--tenant", tenant.slug, "--clear", *named)

    assert refused.value.returncode == 2
    assert AccessListEntry.objects.filter(tenant=tenant).exists()
    assert Tenant.objects.get(pk=tenant.pk).access_list_enabled


def test_operator_command_shows_the_list(office_only, tenant):
    out = io.StringIO()

    call_command("access_list", "--tenant", tenant.slug, stdout=out)

    assert f"{tenant.slug}: IP access list on" in out.getvalue()
    assert OFFICE in out.getvalue()


def test_operator_command_refuses_an_unknown_tenant_with_status_2(db):
    with pytest.raises(CommandError) as refused:
        call_command("access_list", "--tenant", "nope", "--clear", "--operator", "a@b.example")

    assert refused.value.returncode == 2


def test_operator_command_needs_a_tenant_and_explains_itself():
    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", "access_list", *args],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )

    missing = manage("--clear")
    assert missing.returncode == 2
    assert "--tenant" in missing.stderr
    explained = manage("--help")
    assert explained.returncode == 0
    assert "--clear" in explained.stdout


def test_owners_see_refused_sign_ins_by_address_in_the_trail_and_its_export(
    office_only, owner, technician, password
):
    sign_in_from(technician, password, OUTSIDE)
    owner_client = sign_in(Client(), owner)
    event = int(AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST)

    trail = owner_client.get("/audit/", {"event": event, "ip": OUTSIDE})
    export = owner_client.get("/audit/export.csv", {"event": event})

    assert trail.status_code == 200
    assert "Sign-in refused: address not on the IP access list" in trail.content.decode()
    csv_text = b"".join(export.streaming_content).decode()
    assert "Sign-in refused: address not on the IP access list" in csv_text
    assert OUTSIDE in csv_text


def test_a_pending_second_step_is_refused_from_an_address_outside_the_list(
    office_only, clock, user_with_totp, password
):
    client, response = sign_in_from(user_with_totp, password, INSIDE)
    assert response.url.startswith(VERIFY)
    device = TOTPDevice.objects.get(user=user_with_totp)

    moved = client.post(VERIFY, {"otp_token": device_code(device)}, REMOTE_ADDR=OUTSIDE)

    assert moved.status_code == 403
    assert REFUSAL in moved.content.decode()
    assert SESSION_KEY not in client.session
    assert not UserSession.objects.exists()
    event = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST)
    assert (event.target, event.ip, event.details) == (user_with_totp, OUTSIDE, {"ip": OUTSIDE})
    assert not AuditEvent.objects.filter(
        event__in=[AuditEventType.MFA_VERIFIED, AuditEventType.SIGN_IN_SUCCEEDED]
    ).exists()
    # The pending sign-in is gone: back inside, the code alone lets nobody in.
    back_inside = client.post(VERIFY, {"otp_token": device_code(device)})
    assert back_inside.status_code == 302
    assert "/accounts/login/" in back_inside["Location"]
    assert SESSION_KEY not in client.session


def test_a_pending_second_step_is_refused_once_its_address_leaves_the_list(
    office_only, clock, user_with_totp, password
):
    client, _ = sign_in_from(user_with_totp, password, INSIDE)
    access_list_entry_delete(entry=AccessListEntry.objects.get(), actor=None)
    allow(office_only, "203.0.113.0/24", label="Elsewhere")

    page = client.get(VERIFY)

    assert page.status_code == 403
    assert REFUSAL in page.content.decode()
    assert (
        AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST).count() == 1
    )
    assert client.get(VERIFY).status_code == 302
    assert (
        AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST).count() == 1
    )


def test_only_an_operator_clears_a_list_whatever_calls_the_service(office_only, tenant, owner):
    with pytest.raises(ValidationError) as refused:
        access_list_clear(tenant=tenant, actor=owner, run_by="ops")

    assert refused.value.code == "not_operator"
    assert Tenant.objects.get(pk=tenant.pk).access_list_enabled


def request_from(person, ip):
    request = RequestFactory().post("/", REMOTE_ADDR=ip)
    request.user = person
    return request


def test_switching_the_list_on_from_outside_it_is_refused_by_the_service_until_confirmed(
    tenant, owner
):
    allow(tenant, OFFICE)
    outside = request_from(owner, OUTSIDE)

    with pytest.raises(ValidationError) as refused:
        access_list_switch(tenant=tenant, enabled=True, actor=owner, request=outside)

    assert refused.value.code == "excludes_you"
    assert OUTSIDE in refused.value.messages[0]
    assert not Tenant.objects.get(pk=tenant.pk).access_list_enabled
    assert not AuditEvent.objects.filter(
        event=AuditEventType.ACCESS_LIST_CHANGED, details__action="switched on"
    ).exists()
    access_list_switch(
        tenant=tenant, enabled=True, actor=owner, request=outside, confirm_exclusion=True
    )
    assert Tenant.objects.get(pk=tenant.pk).access_list_enabled


def test_removing_the_range_that_holds_you_is_refused_by_the_service_until_confirmed(
    office_only, owner
):
    entry = AccessListEntry.objects.get()
    allow(office_only, "203.0.113.0/24", label="Branch")
    inside = request_from(owner, INSIDE)

    with pytest.raises(ValidationError) as refused:
        access_list_entry_delete(entry=entry, actor=owner, request=inside)

    assert refused.value.code == "excludes_you"
    assert AccessListEntry.objects.filter(pk=entry.pk).exists()
    access_list_entry_delete(entry=entry, actor=owner, request=inside, confirm_exclusion=True)
    assert list(AccessListEntry.objects.values_list("label", flat=True)) == ["Branch"]


def test_a_change_that_keeps_you_inside_needs_no_confirmation(office_only, owner):
    allow(office_only, "203.0.113.0/24", label="Branch")
    branch = AccessListEntry.objects.get(label="Branch")

    access_list_entry_delete(entry=branch, actor=owner, request=request_from(owner, INSIDE))

    assert list(AccessListEntry.objects.values_list("network", flat=True)) == [OFFICE]
