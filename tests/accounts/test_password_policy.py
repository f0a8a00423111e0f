import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from accounts.models import PasswordHistory, User


def test_setting_a_password_records_when(technician):
    technician.password_changed_at = None
    technician.set_password("a-brand-new-passphrase")

    assert technician.password_changed_at is not None


def test_an_unusable_password_is_not_a_password_change(tenant):
    person = User(email="new@northwind.example", tenant=tenant)
    person.set_unusable_password()

    assert person.password_changed_at is None


@pytest.mark.parametrize(
    "candidate, word",
    [
        ("NorthWind-2026-forever", "northwind"),
        ("my northwind it password", "northwind"),
        ("portcullis-is-great-2026", "portcullis"),
    ],
)
def test_passwords_with_the_msp_or_site_name_are_refused_saying_why(technician, candidate, word):
    with pytest.raises(ValidationError) as refused:
        validate_password(candidate, technician)

    assert "password_has_context_word" in [error.code for error in refused.value.error_list]
    assert f"“{word}”" in " ".join(refused.value.messages)


def test_a_long_unrelated_passphrase_is_accepted(technician):
    validate_password("correct-horse-battery-staple-again", technician)


def test_history_keeps_only_the_last_n_hashes_never_passwords(technician):
    tenant = technician.tenant
    tenant.password_history_count = 3
    tenant.save()

    for number in range(5):
        technician.set_password(f"history-passphrase-{number}")
        technician.save()

    kept = list(PasswordHistory.objects.filter(user=technician))
    assert len(kept) == 3
    assert all("history-passphrase" not in entry.password for entry in kept)
    with pytest.raises(ValidationError, match="among your last 3"):
        validate_password("history-passphrase-2", technician)
    validate_password("history-passphrase-1", technician)


def test_turning_history_off_forgets_it_at_the_next_change(technician):
    tenant = technician.tenant
    tenant.password_history_count = 2
    tenant.save()
    technician.set_password("history-passphrase-a")
    technician.save()
    tenant.password_history_count = 0
    tenant.save()

    technician.set_password("history-passphrase-b")
    technician.save()

    assert not PasswordHistory.objects.exists()
