"""The single sign-on maximum age: a session started through the provider ends that long after
the sign-in, however active, so the provider is asked again; enforced on every request (the
session limits middleware) and by the expiry job."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from audit.events import AuditEventType
from audit.models import AuditEvent
from sso.models import IdentityProvider
from sso.services import provider_remove, provider_save
from teams.models import Tenant, UserSession
from teams.services.sessions import sessions_expire
from tests.factories import UserSessionFactory
from tests.signing_in import sign_in
from tests.sso.conftest import sso_sign_in

pytestmark = pytest.mark.django_db

START = "2026-03-02 09:00:00+00:00"
TOLD = "asks your organisation&#x27;s sign-in again every 1 hour"


def max_age_set(provider: IdentityProvider, owner, minutes: int | None) -> None:
    provider.session_max_age_minutes = minutes
    provider_save(provider=provider, client_secret="", break_glass=[owner], actor=owner)


@pytest.mark.parametrize(
    "door", ["/", "/admin/", "/accounts/sessions/", "/audit/logins/"], ids=str.strip
)
def test_a_session_through_the_provider_ends_at_the_maximum_age_at_every_door(
    sso_tenant, owner, tenant, oidc, door
):
    with time_machine.travel(START, tick=False) as clock:
        oidc.sign_in_as(sub="sub-owen", email=owner.email)
        through_provider = Client()
        sso_sign_in(through_provider, owner.email)
        by_password = sign_in(Client(), owner)
        # Set after the sign-in: sessions already open are held to it too.
        max_age_set(sso_tenant, owner, 60)
        for _ in range(2):
            clock.shift(25 * 60)
            assert through_provider.get(door).status_code == 200
            assert by_password.get(door).status_code == 200
        clock.shift(9 * 60)
        assert through_provider.get(door).status_code == 200
        clock.shift(60)

        ended = through_provider.get(door, follow=True)

        assert ended.wsgi_request.user.is_anonymous
        assert ended.redirect_chain[-1][0].startswith("/accounts/login/")
        assert TOLD in ended.content.decode()
        assert by_password.get(door).status_code == 200
    left = UserSession.objects.filter(user=owner).values_list("provider_issuer", flat=True)
    assert list(left) == [""]
    [event] = AuditEvent.objects.filter(event=AuditEventType.SESSION_SINGLE_SIGN_ON_MAX_AGE)
    assert (event.actor, event.target, event.tenant) == (None, owner, tenant)
    assert event.details == {"reason": "single_sign_on"}


def test_the_expiry_job_ends_sessions_past_the_maximum_age(sso_tenant, owner, technician, oidc):
    max_age_set(sso_tenant, owner, 90)
    now = timezone.now()
    started = now - timedelta(minutes=91)
    through_provider = UserSessionFactory(
        user=technician,
        provider_issuer=oidc.issuer,
        provider_subject="sub-tess",
        started_at=started,
        last_active_at=now - timedelta(minutes=1),
    )
    by_password = UserSessionFactory(
        user=technician, started_at=started, last_active_at=now - timedelta(minutes=1)
    )
    younger = UserSessionFactory(
        user=technician,
        provider_issuer=oidc.issuer,
        provider_subject="sub-tess",
        started_at=now - timedelta(minutes=89),
        last_active_at=now - timedelta(minutes=1),
    )

    assert sessions_expire(now=now) == {"idle": 0, "lifetime": 0, "single_sign_on": 1}

    assert set(UserSession.objects.values_list("pk", flat=True)) == {by_password.pk, younger.pk}
    [event] = AuditEvent.objects.filter(event=AuditEventType.SESSION_SINGLE_SIGN_ON_MAX_AGE)
    assert (event.target, event.details["reason"]) == (technician, "single_sign_on")
    assert not UserSession.objects.filter(pk=through_provider.pk).exists()


def test_the_maximum_age_is_bounded_kept_on_the_tenant_and_off_by_default(
    sso_tenant, owner, tenant
):
    assert Tenant.objects.get(pk=tenant.pk).single_sign_on_max_age_minutes is None
    for minutes, message in ((4, "greater than or equal to 5"), (24 * 60 + 1, "a day")):
        with pytest.raises(ValidationError, match=message):
            max_age_set(sso_tenant, owner, minutes)
    sso_tenant.refresh_from_db()

    max_age_set(sso_tenant, owner, 8 * 60)
    assert Tenant.objects.get(pk=tenant.pk).single_sign_on_max_age_minutes == 8 * 60
    changed = AuditEvent.objects.filter(event=AuditEventType.SSO_PROVIDER_CHANGED).latest("pk")
    assert changed.details["changed"] == {"session_max_age_minutes": ["None", "480"]}

    provider_remove(provider=sso_tenant, actor=owner)
    assert Tenant.objects.get(pk=tenant.pk).single_sign_on_max_age_minutes is None
