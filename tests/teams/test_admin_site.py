import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

import audit.services
from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import AuditEventSpec, PersonRef, TenantRef, audit_events_record_bulk
from outbox.models import OutboxMail
from teams import scopes
from teams.models import UserSession
from teams.services.roles import role_create
from teams.sites import EmailOf, PortcullisAdminSite, TenantScopedAdmin, tenant_path_for
from tests.factories import OperatorFactory, UserFactory
from tests.signing_in import sign_in


def test_anonymous_visitors_are_sent_to_the_one_sign_in_page(client, db):
    response = client.get("/admin/accounts/user/", follow=True)

    assert response.redirect_chain[-1][0] == "/accounts/login/?next=/admin/accounts/user/"
    assert response.status_code == 200


def test_the_admin_has_no_sign_in_form_of_its_own(client, owner):
    assert client.get("/admin/login/").url == "/accounts/login/?next=/admin/"
    assert sign_in(Client(), owner).get("/admin/login/").url == "/admin/"


def test_the_admin_login_never_redirects_off_site(owner):
    response = sign_in(Client(), owner).get("/admin/login/", {"next": "https://evil.example/"})

    assert response.url == "/admin/"


def test_posting_to_the_admin_login_signs_nobody_in(client, technician, password):
    response = client.post(
        "/admin/login/", {"username": technician.email, "password": password}, follow=True
    )

    assert not response.wsgi_request.user.is_authenticated


@pytest.mark.parametrize("builtin", [scopes.OWNER, scopes.ADMIN])
def test_owners_and_admins_open_the_admin(tenant, builtin):
    client = sign_in(Client(), UserFactory(tenant=tenant, builtin=builtin))

    assert client.get("/admin/").status_code == 200
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_a_custom_role_with_one_admin_scope_opens_the_admin(tenant, owner):
    helpdesk = role_create(
        tenant=tenant,
        actor=owner,
        values={"require_mfa": False, "name": "Helpdesk", "scopes": ["lockout:unlock"]},
    )
    client = sign_in(Client(), UserFactory(tenant=tenant, role=helpdesk))

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200
    assert client.get("/admin/teams/role/add/").status_code == 403


def test_technicians_get_no_admin_link(client_signed_in):
    assert 'href="/admin/"' not in client_signed_in.get("/").content.decode()


def test_admin_sign_out_is_the_audited_one(owner):
    client = sign_in(Client(), owner)

    response = client.post("/admin/logout/")

    assert response.url == "/accounts/login/"
    assert client.get("/admin/").status_code == 302
    assert AuditEvent.objects.filter(event=AuditEventType.SIGNED_OUT, actor=owner).exists()
    assert not UserSession.objects.filter(user=owner).exists()


def test_admin_password_change_goes_to_the_one_password_page(owner):
    assert (
        sign_in(Client(), owner).get("/admin/password_change/").url == "/accounts/password/change/"
    )


def test_no_bulk_delete_anywhere(owner):
    operator = sign_in(Client(), OperatorFactory())

    for model in admin.site._registry:
        page = operator.get(f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
        assert 'value="delete_selected"' not in page.content.decode()


def test_tenant_paths_are_found_from_the_fields():
    assert tenant_path_for(User) == "tenant"
    assert tenant_path_for(UserSession) == "tenant"
    assert tenant_path_for(AuditEvent) == "tenant"
    assert tenant_path_for(OutboxMail) is None


def test_any_admin_registered_on_the_site_is_scoped_by_configuration(tenant, other_tenant, owner):
    site = PortcullisAdminSite(name="throwaway")
    site.register(UserSession)
    site.register(OutboxMail)
    sign_in(Client(), UserFactory(tenant=other_tenant))
    sign_in(Client(), owner)
    request = RequestFactory().get("/")
    request.user = owner

    sessions = site.get_model_admin(UserSession)
    assert isinstance(sessions, TenantScopedAdmin)
    assert {s.tenant_id for s in sessions.get_queryset(request)} == {tenant.pk}
    assert not site.get_model_admin(OutboxMail).get_queryset(request).exists()
    assert not site.get_model_admin(OutboxMail).has_view_permission(request)


def test_rows_that_name_people_by_email_are_scoped_through_their_email(tenant, other_tenant, owner):
    UserFactory(tenant=other_tenant, email="carl@contoso.example")
    OutboxMail.objects.create(
        kind="backup_codes_regenerated", to=owner.email, subject="a", body_text="a"
    )
    OutboxMail.objects.create(
        kind="backup_codes_regenerated", to="carl@contoso.example", subject="b", body_text="b"
    )

    mine = EmailOf("to").filter(OutboxMail.objects.all(), tenant)

    assert [mail.to for mail in mine] == [owner.email]


def test_force_login_sessions_are_tracked_too(client, technician):
    client.force_login(technician)

    assert client.get("/").status_code == 200
    assert UserSession.objects.filter(user=technician).count() == 1


@pytest.mark.parametrize("one_statement", [True, False])
def test_the_bulk_audit_writer_escapes_control_characters(
    tenant, technician, monkeypatch, one_statement
):
    if not one_statement:
        monkeypatch.setattr(audit.services, "INSERT_FROM_JSON", {})
    written = audit_events_record_bulk(
        [
            AuditEventSpec(
                event=AuditEventType.PERSON_DEACTIVATED,
                tenant=TenantRef(tenant.pk),
                target=PersonRef(technician.pk, "evil\n@example.com"),
                details={"why": "a\x1bb"},
            )
        ]
    )

    assert written == 1
    event = AuditEvent.objects.get(event=AuditEventType.PERSON_DEACTIVATED)
    assert event.target_label == "evil\\x0a@example.com"
    assert event.details == {"why": "a\\x1bb"}
    assert (event.tenant, event.target, event.actor, event.ip) == (tenant, technician, None, None)
    assert audit_events_record_bulk([]) == 0
