"""A failed sign-in keeps what was typed as the email only when it reads as one."""

from axes.models import AccessAttempt

from audit.events import AuditEventType
from audit.models import AuditEvent
from tests.signing_in import sign_in_attempt

# What a person types when the password lands in the email box.
PASSWORD_IN_THE_EMAIL_BOX = "Correct-Horse-Battery-9"


def test_a_password_typed_as_the_email_is_stored_only_as_a_hash(client, db):
    sign_in_attempt(client, PASSWORD_IN_THE_EMAIL_BOX, "whatever-it-is")

    failed = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_FAILED)
    stored = failed.details["email"]
    assert stored.startswith("hmac-sha256:")
    assert PASSWORD_IN_THE_EMAIL_BOX.lower() not in stored
    account_counters = AccessAttempt.objects.filter(ip_address__isnull=True)
    assert list(account_counters.values_list("username", flat=True)) == [stored]
    assert not AccessAttempt.objects.filter(username__icontains="horse").exists()


def test_the_same_mistyped_name_reads_as_one_name_and_counts_on_one_counter(client, db):
    for typed in (PASSWORD_IN_THE_EMAIL_BOX, f"  {PASSWORD_IN_THE_EMAIL_BOX.upper()} "):
        sign_in_attempt(client, typed, "whatever-it-is")
    sign_in_attempt(client, "another mistake", "whatever-it-is")

    stored = list(
        AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_FAILED)
        .order_by("id")
        .values_list("details__email", flat=True)
    )
    assert stored[0] == stored[1] != stored[2]
    counter = AccessAttempt.objects.get(username=stored[0])
    assert counter.failures_since_start == 2


def test_a_plausible_email_is_kept_as_typed(client, db):
    sign_in_attempt(client, "Ghost@Example.com", "whatever-it-is")

    failed = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_FAILED)
    assert failed.details == {"email": "ghost@example.com"}
