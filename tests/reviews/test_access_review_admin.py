"""The access review in the admin: the same people and flags as the page, filters and sorting
by each column, the bulk actions behind a confirmation step, and "review done"."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record
from mfa.models import BackupCodeDevice
from reviews.models import AccessReview
from reviews.selectors import FLAG_LABELS, access_review_rows
from teams import scopes
from teams.models import AccessListException, Role, UserSession
from teams.services.roles import role_create
from tests.factories import OperatorFactory, TOTPDeviceFactory, UserFactory, UserSessionFactory
from tests.signing_in import prove_identity, sign_in, sign_in_attempt

pytestmark = pytest.mark.django_db

LIST = "/admin/reviews/accessreviewentry/"
DONE = "/admin/reviews/accessreviewentry/done/"


def listed_emails(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'aria-label="Select this object for an action - ([^"]+)"', response.text)


def listed_pks(response) -> set[int]:
    return {
        int(pk)
        for pk in re.findall(
            rf'name="{helpers.ACTION_CHECKBOX_NAME}" value="(\d+)"', response.content.decode()
        )
    }


@pytest.fixture
def flagged_world(client, tenant, owner, settings):
    """One person per flag (and one with none), all signed in recently unless stale."""
    settings.ACCESS_REVIEW_MAX_SESSIONS = 2
    now = timezone.now()

    def person(name, **fields):
        fields.setdefault("last_login", now)
        return UserFactory(tenant=tenant, email=f"{name}@northwind.example", **fields)

    strict = Role.objects.create(tenant=tenant, name="Strict", require_mfa=True)
    people = {
        "fine": person("fine"),
        "no_mfa_required": person("no-mfa", role=strict),
        "stale": person("stale", last_login=now - timedelta(days=45)),
        "many_sessions": person("busy"),
        "failures": person("failing"),
        "unusual": person("unusual"),
        "locked": person("locked"),
    }
    UserSessionFactory.create_batch(3, user=people["many_sessions"])
    sign_in_attempt(client, people["failures"].email, "wrong-password")
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(client, people["locked"].email, "wrong-password")
    audit_event_record(
        event=AuditEventType.UNUSUAL_SIGN_IN, actor=None, tenant=tenant, target=people["unusual"]
    )
    return people


def test_each_flag_filter_lists_the_flagged_people_as_the_page_does(owner, tenant, flagged_world):
    excepted = UserFactory(tenant=tenant, email="excepted@northwind.example")
    AccessListException.objects.create(
        tenant=tenant, user=excepted, expires_at=timezone.now() + timedelta(days=7)
    )
    AccessListException.objects.create(
        tenant=tenant, user=flagged_world["stale"], expires_at=timezone.now() - timedelta(days=1)
    )
    flagged_world = {**flagged_world, "access_list_exception": excepted}
    browser = sign_in(Client(), owner)
    expected = {
        "no_mfa_required": {"no_mfa_required"},
        "stale": {"stale"},
        "many_sessions": {"many_sessions"},
        "failures": {"failures", "locked"},  # the locked person failed too
        "unusual": {"unusual"},
        "locked": {"locked"},
        "access_list_exception": {"access_list_exception"},
    }
    assert set(expected) == set(FLAG_LABELS)

    for flag, names in expected.items():
        people = {flagged_world[name].pk for name in names}
        assert listed_pks(browser.get(LIST, {"flag": flag})) == people, flag
        assert {
            row.person.pk for row in access_review_rows(tenant=tenant) if flag in row.flags
        } == (people), flag
    flagged = listed_pks(browser.get(LIST, {"flag": "any"}))
    assert flagged == {person.pk for name, person in flagged_world.items() if name != "fine"}


def test_a_tenant_requiring_mfa_flags_everyone_without_it(owner, technician, tenant):
    TOTPDeviceFactory(user=owner)
    browser = sign_in(Client(), OperatorFactory())
    assert listed_pks(browser.get(LIST, {"flag": "no_mfa_required"})) == set()

    tenant.require_mfa = True
    tenant.save()

    assert listed_pks(browser.get(LIST, {"flag": "no_mfa_required"})) == {technician.pk}


def test_columns_show_what_the_page_shows(owner, technician, tenant, flagged_world):
    device = BackupCodeDevice.objects.create(user=technician, name="Backup codes", confirmed=True)
    device.codes_replace()
    left = device.codes.count()

    response = sign_in(Client(), owner).get(LIST, {"q": technician.email})

    content = response.content.decode()
    assert listed_emails(response) == [technician.email]
    assert f"backup codes only ({left} left)" in content
    assert "Reset a person&#x27;s second factors" not in content
    assert "0 days" in content
    summary = sign_in(Client(), owner).get(LIST).content.decode()
    assert "9 people, 6 flagged." in summary


def test_deactivated_people_carry_no_flags(owner, tenant, flagged_world):
    User.objects.filter(pk=flagged_world["stale"].pk).update(is_active=False)

    browser = sign_in(Client(), owner)
    assert flagged_world["stale"].pk not in listed_pks(browser.get(LIST, {"flag": "any"}))
    assert flagged_world["stale"].pk in listed_pks(browser.get(LIST, {"is_active__exact": "0"}))


def test_mfa_role_and_active_filters(owner, technician, tenant):
    browser = sign_in(Client(), owner)

    assert listed_pks(browser.get(LIST, {"mfa": "app"})) == set()
    TOTPDeviceFactory(user=technician)
    assert listed_pks(browser.get(LIST, {"mfa": "app"})) == {technician.pk}
    assert listed_pks(browser.get(LIST, {"mfa": "none"})) == {owner.pk}
    assert listed_pks(browser.get(LIST, {"role__id__exact": owner.role_id})) == {owner.pk}


def test_every_column_sorts(owner, tenant, flagged_world):
    browser = sign_in(Client(), owner)

    by_flags = listed_emails(browser.get(LIST, {"o": "-9"}))
    assert by_flags[0] == flagged_world["locked"].email  # failed and locked: two flags
    by_sessions = listed_emails(browser.get(LIST, {"o": "-6"}))
    assert by_sessions[0] == flagged_world["many_sessions"].email
    never = UserFactory(tenant=tenant, email="never@northwind.example", last_login=None)
    assert listed_emails(browser.get(LIST, {"o": "4"}))[0] == never.email
    assert listed_emails(browser.get(LIST, {"o": "-4"}))[-1] == never.email
    for column in range(1, 10):
        for order in (str(column), f"-{column}"):
            assert len(listed_emails(browser.get(LIST, {"o": order}))) == 9


def test_only_own_tenant_and_needs_members_read(owner, technician, other_owner, tenant):
    assert listed_pks(sign_in(Client(), owner).get(LIST)) == {owner.pk, technician.pk}
    assert listed_pks(sign_in(Client(), other_owner).get(LIST)) == {other_owner.pk}
    assert sign_in(Client(), other_owner).get(f"{LIST}{technician.pk}/change/").status_code == 404
    unlocker = person_with_scopes(tenant, owner, "Unlocker", ["lockout:unlock"])

    assert sign_in(Client(), unlocker).get("/admin/").status_code == 200
    assert sign_in(Client(), unlocker).get(LIST).status_code == 403


def person_with_scopes(tenant, owner, name, granted):
    role = role_create(
        tenant=tenant, actor=owner, values={"require_mfa": False, "name": name, "scopes": granted}
    )
    return UserFactory(tenant=tenant, role=role, email=f"{name.lower()}@northwind.example")


def test_operators_see_every_tenant_but_cannot_mark_a_tenants_review_done(owner, other_owner):
    operator = OperatorFactory()
    browser = sign_in(Client(), operator)

    assert {owner.pk, other_owner.pk} <= listed_pks(browser.get(LIST))
    assert "Mark this review done" not in browser.get(LIST).content.decode()
    response = browser.post(DONE, follow=True)
    assert "marked done by its own people" in response.content.decode()
    assert not AccessReview.objects.exists()


def test_bulk_deactivate_asks_to_confirm_then_acts_and_audits(owner, technician):
    UserSessionFactory.create_batch(2, user=technician)
    browser = sign_in(Client(), owner)
    chosen = {"action": "deactivate", helpers.ACTION_CHECKBOX_NAME: [technician.pk]}

    confirm = browser.post(LIST, chosen)

    assert confirm.status_code == 200
    assert "They can't sign in any more" in confirm.content.decode()
    technician.refresh_from_db()
    assert technician.is_active

    done = browser.post(LIST, {**chosen, "confirmed": "yes"}, follow=True)

    assert f"Deactivate: done for {technician.email}." in done.content.decode()
    technician.refresh_from_db()
    assert not technician.is_active
    assert not UserSession.objects.filter(user=technician).exists()
    event = AuditEvent.objects.get(event=AuditEventType.PERSON_DEACTIVATED)
    assert event.actor == owner and event.target == technician


def test_bulk_revoke_and_require_password_are_audited(owner, technician):
    browser = sign_in(Client(), owner)
    victim = sign_in(Client(), technician)

    revoke = {"action": "revoke_sessions", helpers.ACTION_CHECKBOX_NAME: [technician.pk]}
    browser.post(LIST, {**revoke, "confirmed": "yes"})

    assert victim.get("/").url.startswith("/accounts/login/")
    revoked = AuditEvent.objects.get(event=AuditEventType.SESSION_REVOKED)
    assert revoked.target == technician and revoked.details["reason"] == "access_review"

    browser.post(
        LIST,
        {
            "action": "require_password_change",
            helpers.ACTION_CHECKBOX_NAME: [technician.pk],
            "confirmed": "yes",
        },
    )

    technician.refresh_from_db()
    assert technician.password_change_required
    required = AuditEvent.objects.get(event=AuditEventType.PASSWORD_CHANGE_REQUIRED)
    assert required.actor == owner and required.target == technician


def test_bulk_actions_obey_the_rules_and_the_scopes(owner, tenant, technician):
    admin = UserFactory(tenant=tenant, builtin=scopes.ADMIN, email="admin@northwind.example")

    response = sign_in(Client(), admin).post(
        LIST,
        {
            "action": "deactivate",
            helpers.ACTION_CHECKBOX_NAME: [owner.pk, admin.pk],
            "confirmed": "yes",
        },
        follow=True,
    )

    content = response.content.decode()
    assert "holds scopes you don" in content and "deactivate yourself" in content
    assert User.objects.filter(pk__in=[owner.pk, admin.pk], is_active=True).count() == 2
    assert not AuditEvent.objects.filter(event=AuditEventType.PERSON_DEACTIVATED).exists()

    reader = person_with_scopes(tenant, owner, "Reader", ["members:read", "lockout:unlock"])
    browser = sign_in(Client(), reader)
    page = browser.get(LIST)
    assert page.status_code == 200 and technician.email in page.content.decode()
    assert "Deactivate the selected people" not in page.content.decode()
    browser.post(
        LIST,
        {"action": "deactivate", helpers.ACTION_CHECKBOX_NAME: [technician.pk], "confirmed": "yes"},
    )
    technician.refresh_from_db()
    assert technician.is_active


def test_another_tenants_person_cannot_be_acted_on(owner, other_tenant):
    victim = UserFactory(tenant=other_tenant)
    browser = sign_in(Client(), owner)
    chosen = {"action": "deactivate", helpers.ACTION_CHECKBOX_NAME: [victim.pk]}

    confirm = browser.post(LIST, chosen, follow=True)
    acted = browser.post(LIST, {**chosen, "confirmed": "yes"}, follow=True)

    for response in (confirm, acted):
        assert victim.email not in response.content.decode()
        assert "None of the selected people are listed here." in response.content.decode()
    victim.refresh_from_db()
    assert victim.is_active


def test_review_done_from_the_admin_is_one_click_and_audited(owner, technician, tenant):
    browser = sign_in(Client(), owner)

    assert browser.get(DONE).status_code == 405
    response = browser.post(DONE, follow=True)

    assert "Access review recorded: 2 people reviewed." in response.content.decode()
    review = AccessReview.objects.get()
    assert review.reviewer == owner and review.tenant == tenant
    event = AuditEvent.objects.get(event=AuditEventType.ACCESS_REVIEW_COMPLETED)
    assert event.details["people_reviewed"] == 2
    assert "Last review:" in browser.get(LIST).content.decode()


def test_admin_list_queries_do_not_grow_with_people(owner, tenant):
    browser = sign_in(Client(), owner)
    for _ in range(3):
        UserFactory(tenant=tenant)
    with CaptureQueriesContext(connection) as few:
        browser.get(LIST)
    for _ in range(30):
        person = UserFactory(tenant=tenant)
        UserSessionFactory.create_batch(2, user=person)
        TOTPDeviceFactory(user=person)
    with CaptureQueriesContext(connection) as many:
        response = browser.get(LIST)

    assert len(listed_pks(response)) == 34
    assert len(many) == len(few)


def test_the_page_links_to_the_admin_and_back_for_those_who_can_open_it(owner, tenant):
    browser = sign_in(Client(), owner)
    reader = UserFactory(tenant=tenant, builtin=scopes.READ_ONLY)

    assert LIST in browser.get("/access-review/").content.decode()
    assert 'href="/access-review/"' in browser.get(LIST).content.decode()
    page = sign_in(Client(), reader).get("/access-review/")
    assert page.status_code == 200 and LIST not in page.content.decode()


def test_bulk_unlock_and_two_factor_reset_in_the_admin(
    client, clock, settings, owner, user_with_totp
):
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(client, user_with_totp.email, "nope-nope")
    browser = sign_in(Client(), owner)
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)
    unlock = {"action": "unlock", helpers.ACTION_CHECKBOX_NAME: [user_with_totp.pk]}
    reset = {"action": "reset_mfa", helpers.ACTION_CHECKBOX_NAME: [user_with_totp.pk]}

    assert "They can sign in again at once" in browser.post(LIST, unlock).content.decode()
    browser.post(LIST, {**unlock, "confirmed": "yes"})
    asked = browser.post(LIST, {**reset, "confirmed": "yes"}, follow=True)
    assert "Resetting factors needs your password first" in asked.content.decode()
    assert user_with_totp.totpdevice_set.exists()
    prove_identity(browser, owner)
    browser.post(LIST, {**reset, "confirmed": "yes"})

    unlocked = AuditEvent.objects.get(event=AuditEventType.ACCOUNT_UNLOCKED)
    assert (unlocked.actor, unlocked.target) == (owner, user_with_totp)
    assert not user_with_totp.totpdevice_set.exists()
    assert AuditEvent.objects.get(event=AuditEventType.MFA_RESET).target == user_with_totp
