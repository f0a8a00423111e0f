"""Secret fields in the admin: no list is filtered, searched, sorted or linked by one.

Every field holding a secret, a hash of one or a token is marked on its model (`secret_fields`,
or `teams.sites.LIBRARY_SECRET_FIELDS` for libraries' models). These tests walk every admin the
site registers and every marked field, and fail when a field that looks like a secret is
neither marked nor listed below as harmless.
"""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR
from django.db import models
from django.test import Client, RequestFactory

from accounts.admin import UserAdmin
from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent, AuditWebhook
from audit.webhooks import audit_webhook_set
from teams.sites import PortcullisAdminSite, names_secret, secret_fields_of
from tests.factories import OperatorFactory
from tests.signing_in import sign_in

SECRET_LOOKING_NAME = re.compile(r"pass|secret|token|hash|key|nonce|salt|seed|credential|otp")
# Fields whose names look like a secret's but whose values are not secret, and why.
NOT_SECRET = {
    "audit.auditevent.hash": "the chain's link, shipped with every exported event",
    "audit.auditevent.hash_key_id": "names which chain key linked the event, not the key",
    "audit.auditchain.head_hash": "the newest event's link, which that event carries too",
    "audit.auditchain.checkpoint_hash": "a link of the chain, signed and published",
    "audit.auditcheckpoint.hash": "the link a checkpoint vouches for, which its event carries",
    "sso.domainverification.token": "published by design, in the domain's public TXT record",
    "mfa.passkeydevice.credential_id": "the passkey's id, handed to every browser that asks",
    "mfa.passkeydevice.public_key": "a public key",
}
# Only these can hold a secret's characters.
TEXT_FIELDS = (models.CharField, models.TextField, models.BinaryField)


def changelist_url(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def secret_paths(model) -> list[str]:
    """Every secret field of `model`, and of each model one relation away, as a lookup path."""
    paths = sorted(secret_fields_of(model))
    for field in model._meta.get_fields():
        if not field.is_relation or field.related_model is None:
            continue
        if field.auto_created and not field.concrete:
            name = field.field.related_query_name()
            if name.endswith("+"):
                continue
        else:
            name = field.name
        paths += [f"{name}__{secret}" for secret in sorted(secret_fields_of(field.related_model))]
    return paths


@pytest.fixture
def operator_client(db):
    return sign_in(Client(), OperatorFactory())


def test_every_field_that_looks_secret_is_marked(db):
    """A new token or hash column fails here until it is marked (or listed as harmless)."""
    unmarked = [
        f"{model._meta.label_lower}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, TEXT_FIELDS)
        and SECRET_LOOKING_NAME.search(field.name)
        and field.name not in secret_fields_of(model)
        and f"{model._meta.label_lower}.{field.name}" not in NOT_SECRET
    ]
    assert unmarked == []


def test_marked_fields_exist(db):
    for model in apps.get_models():
        names = {field.name for field in model._meta.concrete_fields}
        assert secret_fields_of(model) <= names, model


def test_no_admin_filters_by_a_secret_field_or_one_through_a_relation(operator_client):
    """`?secret__startswith=` answered with the row for a right prefix and none for a wrong
    one, so 73 requests of `secret__regex` recovered a webhook's secret."""
    tried = 0
    for model in admin.site._registry:
        for path in secret_paths(model):
            for lookup in (path, f"{path}__startswith", f"{path}__regex", f"{path}__isnull"):
                response = operator_client.get(changelist_url(model), {lookup: "a"})
                assert response.status_code == 400, (model, lookup)
                tried += 1
    assert tried >= 40
    assert operator_client.get(changelist_url(User), {"email__startswith": "t"}).status_code == 200


def test_no_admin_links_by_a_secret_field(operator_client):
    tried = 0
    for model in admin.site._registry:
        for secret in secret_fields_of(model):
            response = operator_client.get(changelist_url(model), {"_to_field": secret})
            assert response.status_code == 400, (model, secret)
            tried += 1
    assert tried >= 4


def test_no_admin_searches_or_sorts_by_a_secret_field(operator_client):
    request = RequestFactory().get("/admin/")
    request.user = OperatorFactory()
    for model, model_admin in admin.site._registry.items():
        named = [
            *model_admin.get_search_fields(request),
            *model_admin.get_ordering(request),
            *model._meta.ordering,
            *(name for name in model_admin.get_sortable_by(request) if isinstance(name, str)),
            *(name for name in model_admin.get_list_filter(request) if isinstance(name, str)),
        ]
        assert not [name for name in named if names_secret(str(name))], model


def test_a_list_column_showing_a_secret_is_never_sorted_by(db):
    """`?o=` sorts by a column's index; a column on a secret field would sort by the secret."""

    class ShowsPassword(UserAdmin):
        list_display = ("email", "password")

    site = PortcullisAdminSite(name="secret_sort_test")
    site.register(User, ShowsPassword)
    request = RequestFactory().get("/admin/", {ORDER_VAR: "2"})
    request.user = OperatorFactory()
    model_admin = site._registry[User]
    changelist = model_admin.get_changelist_instance(request)

    ordering = changelist.get_ordering(request, changelist.root_queryset)
    assert not [name for name in ordering if "password" in str(name)]
    assert "password" not in model_admin.get_sortable_by(request)


def test_owner_cannot_read_the_webhook_secret_back_through_a_filter(owner, settings):
    settings.AUDIT_WEBHOOK_ALLOW_LOCAL = True  # a receiver that is never asked
    _webhook, secret = audit_webhook_set(
        actor=owner, tenant=owner.tenant, url="http://127.0.0.1:9/audit"
    )
    client = sign_in(Client(), owner)

    right = client.get(changelist_url(AuditWebhook), {"secret__startswith": secret[:3]})
    wrong = client.get(changelist_url(AuditWebhook), {"secret__regex": "^zzz"})

    assert (right.status_code, wrong.status_code) == (400, 400)
    refusal = AuditEvent.objects.filter(event=AuditEventType.ACCESS_REFUSED).first()
    assert refusal is not None
    assert refusal.details["reason"] == "secret_field"
    assert refusal.details["lookup"] == "secret__startswith"
    assert secret[:3] not in str(refusal.details)
