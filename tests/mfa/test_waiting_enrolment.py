"""A sign-in attempt waiting at enrolment never replaces the person's own new app.

After an owner reset someone's two-factor authentication, an intruder who knows the password
stops at the enrolment step. The person then signs in and enrols a new app. Before the attempt
carried one factor policy derived again at every request, the intruder's waiting attempt still
believed enrolment was due: confirming a code of their own signed them in and deleted the
person's new app, and the person's codes were refused. Both orders are tested: the intruder
opened the enrolment page before the person enrolled, or only after.
"""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.services import STEP_NOT_DUE, totp_device_confirm
from tests.factories import TOTPDeviceFactory
from tests.mfa.helpers import SETUP
from tests.signing_in import VERIFY, device_code, sign_in, sign_in_with_totp


def mfa_required_without_factors(technician):
    technician.tenant.require_mfa = True
    technician.tenant.save()
    TOTPDevice.objects.filter(user=technician).delete()


def enrol(client: Client, technician) -> TOTPDevice:
    """Open the enrolment page and confirm the app with a code from it."""
    assert client.get(SETUP).status_code == 200
    device = TOTPDevice.objects.get(user=technician, confirmed=False)
    response = client.post(SETUP, {"otp_token": device_code(device)})
    assert response.status_code in (200, 302), response
    return device


def assert_the_persons_app_stands(technician, own_app: TOTPDevice, intruder: Client, clock):
    assert SESSION_KEY not in intruder.session
    assert list(TOTPDevice.objects.filter(user=technician, confirmed=True)) == [own_app]
    assert not AuditEvent.objects.filter(
        event=AuditEventType.MFA_ENROLLED, details__replaced=True
    ).exists()
    clock.shift(30)  # the person's next code
    sign_in_with_totp(Client(), technician, own_app)


def test_an_intruder_who_opened_enrolment_first_is_sent_to_the_second_step(clock, technician):
    mfa_required_without_factors(technician)
    intruder = sign_in(Client(), technician)
    assert intruder.get(SETUP).status_code == 200

    own_app = enrol(sign_in(Client(), technician), technician)

    # Whatever the intruder's page had open, the attempt now waits for a code from the
    # person's app: enrolment is no longer due.
    posted = intruder.post(SETUP, {"otp_token": "123456"})
    assert posted.status_code == 302 and posted.url.startswith(VERIFY)
    reopened = intruder.get(SETUP)
    assert reopened.status_code == 302 and reopened.url.startswith(VERIFY)
    assert_the_persons_app_stands(technician, own_app, intruder, clock)


def test_an_intruder_who_opens_enrolment_afterwards_is_sent_to_the_second_step(clock, technician):
    mfa_required_without_factors(technician)
    intruder = sign_in(Client(), technician)
    own_app = enrol(sign_in(Client(), technician), technician)

    opened = intruder.get(SETUP)

    assert opened.status_code == 302 and opened.url.startswith(VERIFY)
    assert not TOTPDevice.objects.filter(user=technician, confirmed=False).exists()
    posted = intruder.post(SETUP, {"otp_token": "123456"})
    assert posted.status_code == 302 and posted.url.startswith(VERIFY)
    assert_the_persons_app_stands(technician, own_app, intruder, clock)


def test_enrolment_in_a_waiting_attempt_never_deletes_a_confirmed_app(rf, technician):
    """The service itself refuses, for an app confirmed between the page's checks and the
    code (two requests at once): nothing is deleted, nothing is confirmed."""
    own_app = TOTPDeviceFactory(user=technician)
    setup = TOTPDevice.objects.create(user=technician, name="Authenticator app", confirmed=False)
    request = rf.post(SETUP)
    request.user = AnonymousUser()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()

    check = totp_device_confirm(
        request=request, user=technician, device=setup, token=device_code(setup)
    )

    assert not check.verified and check.reason == STEP_NOT_DUE
    assert list(TOTPDevice.objects.filter(user=technician, confirmed=True)) == [own_app]
    assert TOTPDevice.objects.filter(pk=setup.pk, confirmed=False).exists()
