import gzip

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from accounts.models import PasswordHistory, User
from accounts.validators import COMMON_PASSWORDS_PATH


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


@pytest.mark.parametrize(
    "email, full_name, candidate, word",
    [
        ("jsmith@acme.example", "", "jsmith12345678", "jsmith"),
        ("jsmith@acme.example", "", "99-JSmith-the-best", "jsmith"),
        ("john.smith@acme.example", "", "john.smith.2026.x", "john"),
        ("john.smith@acme.example", "", "blacksmith-Smith-77", "smith"),
        ("john.smith@acme.example", "", "JohnSmith-forever", "john"),
        ("k.jo@acme.example", "Katherine O'Neill", "katherine-2026-rules", "katherine"),
        ("k.jo@acme.example", "Mary Jane", "MARY-1234567890", "mary"),
        ("k.jo@acme.example", "Al Bo Li", "AlBoLi-sunny-harbour", "alboli"),
    ],
)
def test_passwords_with_the_persons_email_or_name_are_refused_saying_why(
    tenant, email, full_name, candidate, word
):
    person = User(email=email, full_name=full_name, tenant=tenant)

    with pytest.raises(ValidationError) as refused:
        validate_password(candidate, person)

    assert "password_has_personal_word" in [error.code for error in refused.value.error_list]
    assert f"“{word}”" in " ".join(refused.value.messages)


def test_email_and_name_parts_under_four_characters_are_allowed(tenant):
    person = User(email="jo.li@acme.example", full_name="Al Bo", tenant=tenant)

    validate_password("li-jo-bo-al-hazel-ember", person)


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


@pytest.mark.parametrize(
    "candidate", ["iloveyou1234", "letmein12345", "1234567890ab", "Summer2024!!", "qwertyuiop123"]
)
def test_common_passwords_of_twelve_characters_or_more_are_refused_offline(technician, candidate):
    with pytest.raises(ValidationError) as refused:
        validate_password(candidate, technician)

    assert "password_too_common" in [error.code for error in refused.value.error_list]


def test_a_long_random_number_is_accepted_with_no_composition_rule(technician):
    validate_password("730195846217365940", technician)


def test_a_common_word_inside_a_long_random_number_is_accepted(technician):
    validate_password("summer83016274951", technician)


def test_the_bundled_list_holds_the_hundred_thousand_most_common_normalised():
    with gzip.open(COMMON_PASSWORDS_PATH, "rt", encoding="utf-8") as bundled:
        entries = bundled.read().splitlines()

    assert len(entries) >= 100_000
    assert len(set(entries)) == len(entries)
    assert all(entry == entry.strip().lower() and entry for entry in entries)
    assert entries[:3] == ["123456", "password", "12345678"]
