import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django_otp import user_has_device

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import BackupCodeDevice
from mfa.services import FreshProofNeeded, mfa_factors_reset
from teams import scopes
from tests.factories import OperatorFactory, TOTPDeviceFactory, UserFactory
from tests.mfa.helpers import SETUP, backup_codes_issue, request_with_fresh_proof
from tests.signing_in import prove_identity, sign_in, sign_in_with_totp


@pytest.fixture
def proved(db):
    return request_with_fresh_proof()


@pytest.fixture
def enrolled(user_with_totp):
    backup_codes_issue(user_with_totp)
    return user_with_totp


def test_owner_resets_a_persons_factors(
    clock, enrolled, owner, tenant, proved, django_capture_on_commit_callbacks
):
    tenant.require_mfa = True
    tenant.save()
    session = sign_in_with_totp(Client(), enrolled)

    with django_capture_on_commit_callbacks(execute=True):
        assert mfa_factors_reset(target=enrolled, actor=owner, request=proved) is True

    assert not user_has_device(enrolled, confirmed=None)
    assert not BackupCodeDevice.objects.filter(user=enrolled).exists()
    reset = AuditEvent.objects.get(event=AuditEventType.MFA_RESET)
    assert (reset.actor, reset.target, reset.tenant) == (owner, enrolled, tenant)
    assert reset.details == {"authenticator_app": True, "backup_codes": True, "passkeys": 0}
    assert [message.to for message in mail.outbox] == [[enrolled.email]]
    assert "was reset" in mail.outbox[0].subject
    assert session.get("/").url.startswith("/accounts/login/")
    again = sign_in(Client(), enrolled)
    assert again.get("/").url.startswith(SETUP)


def test_owner_of_another_tenant_is_refused(enrolled, other_tenant):
    outsider = UserFactory(tenant=other_tenant, builtin=scopes.OWNER)

    with pytest.raises(PermissionDenied):
        mfa_factors_reset(target=enrolled, actor=outsider)

    assert user_has_device(enrolled, confirmed=True)
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_RESET).exists()


def test_person_without_the_reset_scope_is_refused(enrolled, tenant):
    colleague = UserFactory(tenant=tenant, builtin=scopes.TECHNICIAN)

    with pytest.raises(PermissionDenied):
        mfa_factors_reset(target=enrolled, actor=colleague)

    assert user_has_device(enrolled, confirmed=True)


def test_deactivated_owner_is_refused(enrolled, owner):
    owner.is_active = False
    owner.save()

    with pytest.raises(PermissionDenied):
        mfa_factors_reset(target=enrolled, actor=owner)


def test_owner_cannot_reset_an_operator(owner, db):
    operator = OperatorFactory()
    TOTPDeviceFactory(user=operator)

    with pytest.raises(PermissionDenied):
        mfa_factors_reset(target=operator, actor=owner)


def test_operator_may_reset_anyone(enrolled, proved, db):
    operator = OperatorFactory()

    assert mfa_factors_reset(target=enrolled, actor=operator, request=proved) is True
    assert not user_has_device(enrolled, confirmed=True)


def test_own_factors_are_changed_on_ones_own_page_not_by_reset(enrolled, tenant):
    enrolled.role = tenant.roles.get(name=scopes.OWNER.name)
    enrolled.save()

    with pytest.raises(ValidationError):
        mfa_factors_reset(target=enrolled, actor=enrolled)

    assert user_has_device(enrolled, confirmed=True)


def test_reset_of_a_person_without_factors_changes_nothing(technician, owner, proved):
    assert mfa_factors_reset(target=technician, actor=owner, request=proved) is False
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_RESET).exists()


def test_admin_action_resets_after_a_fresh_password(clock, enrolled, password, settings):
    operator = OperatorFactory()
    admin = sign_in(Client(), operator)
    changelist = "/admin/accounts/user/"
    action = {"action": "reset_mfa", "_selected_action": [enrolled.pk]}
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    refused = admin.post(changelist, action, follow=True)
    assert "needs your password first" in refused.content.decode()
    assert user_has_device(enrolled, confirmed=True)

    prove_identity(admin, operator, password=password)
    done = admin.post(changelist, action, follow=True)

    assert "two-factor authentication reset" in done.content.decode()
    assert not user_has_device(enrolled, confirmed=True)
    assert AuditEvent.objects.get(event=AuditEventType.MFA_RESET).actor == operator


def test_service_refuses_a_reset_without_a_fresh_password(clock, enrolled, owner, proved, settings):
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    with pytest.raises(FreshProofNeeded):
        mfa_factors_reset(target=enrolled, actor=owner, request=proved)
    with pytest.raises(FreshProofNeeded):
        mfa_factors_reset(target=enrolled, actor=owner)

    assert user_has_device(enrolled, confirmed=True)
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_RESET).exists()
