"""The second step's page fits its mode: app code, backup code or passkey."""

from django.core import mail
from django.test import Client

from tests.mfa.helpers import backup_codes_issue
from tests.signing_in import VERIFY, sign_in

BACKUP = f"{VERIFY}?code=backup"


def test_backup_code_mode_gives_backup_advice_only(clock, user_with_totp):
    user_with_totp.tenant.remember_browser_days = 30
    user_with_totp.tenant.save()
    client = sign_in(Client(), user_with_totp)

    app_page = client.get(VERIFY).content.decode()
    backup_page = client.get(BACKUP).content.decode()

    assert '<h1 id="verify-heading">Enter your code</h1>' in app_page
    assert "Codes follow your phone's clock" in app_page
    assert 'name="remember"' in app_page
    assert '<h1 id="verify-heading">Enter a backup code</h1>' in backup_page
    assert "clock" not in backup_page.lower()
    assert 'name="remember"' not in backup_page
    assert "No backup codes left, or can't find them?" in backup_page
    assert backup_page.count("You are signing in as") == 1


def test_after_a_backup_code_the_next_page_and_the_mail_say_how_many_are_left(
    clock, user_with_totp, django_capture_on_commit_callbacks
):
    codes = backup_codes_issue(user_with_totp)
    client = sign_in(Client(), user_with_totp)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(BACKUP, {"otp_token": codes[0], "next": "/"}, follow=True)

    page = response.content.decode()
    assert "You used a backup code: 9 are left" in page
    assert "You have 9\nleft" in mail.outbox[0].body or "You have 9 left" in mail.outbox[0].body


def test_the_last_backup_code_says_none_are_left(clock, user_with_totp):
    codes = backup_codes_issue(user_with_totp)
    for code in codes[:-1]:
        client = sign_in(Client(), user_with_totp)
        assert client.post(BACKUP, {"otp_token": code}).status_code == 302
    client = sign_in(Client(), user_with_totp)

    page = client.post(BACKUP, {"otp_token": codes[-1], "next": "/"}, follow=True)

    assert "You used your last backup code." in page.content.decode()
