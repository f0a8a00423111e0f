import pytest
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from tests.factories import UserFactory


def test_email_is_stored_normalised(tenant):
    role = tenant.roles.get(name="Technician")

    user = User.objects.create_user(" Ada@Example.COM ", None, tenant=tenant, role=role)

    assert user.email == "ada@example.com"
    assert not user.has_usable_password()


def test_email_is_unique_whatever_its_case(tenant):
    role = tenant.roles.get(name="Technician")
    User.objects.create_user("ada@example.com", None, tenant=tenant, role=role)

    with pytest.raises(ValidationError):
        User.objects.create_user("ADA@example.com", None, tenant=tenant, role=role)


def test_database_refuses_an_uppercase_email(technician):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=technician.pk).update(email="Tech@Northwind.example")


def test_role_must_belong_to_the_persons_tenant(tenant, other_tenant):
    foreign_role = other_tenant.roles.get(name="Owner")

    with pytest.raises(ValidationError, match="own tenant"):
        User.objects.create_user("x@example.com", None, tenant=tenant, role=foreign_role)


def test_only_operators_have_no_tenant(db):
    with pytest.raises(ValidationError, match="belongs to a tenant"):
        User.objects.create_user("loose@example.com", None)

    operator = User.objects.create_superuser("op@example.com", "an operator password")
    assert operator.tenant is None
    assert operator.is_staff


@pytest.mark.real_hashers
def test_passwords_are_hashed_with_argon2(tenant):
    user = UserFactory(tenant=tenant)

    assert user.password.startswith("argon2$argon2id$")


@pytest.mark.parametrize(
    "candidate, message",
    [
        ("short-pw1", "at least 12 characters"),
        ("123456789012345", "too common"),
        ("password1234", "too common"),
        ("tess.tech.northwind", "too similar"),
    ],
)
def test_password_policy_refuses_weak_passwords_saying_why(technician, candidate, message):
    technician.email = "tess.tech@northwind.example"

    with pytest.raises(ValidationError) as refused:
        password_validation.validate_password(candidate, technician)

    assert message in " ".join(refused.value.messages)


def test_long_passphrase_is_accepted_without_truncation(technician):
    passphrase = "a long passphrase with spaces and ünïcödé " * 3

    password_validation.validate_password(passphrase, technician)
    technician.set_password(passphrase)

    assert technician.check_password(passphrase)
    assert not technician.check_password(passphrase[:72])
