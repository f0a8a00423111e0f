import re
from base64 import b32encode
from urllib.parse import parse_qs, unquote, urlsplit

from django.core import mail
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import BackupCode, BackupCodeDevice
from mfa.selectors import totp_config_uri
from mfa.totp.qr import qr_code_svg
from tests.mfa.helpers import SETUP, backup_codes_issue, totp_code
from tests.signing_in import VERIFY, device_code, sign_in, sign_in_with_totp

REMOVE = "/mfa/totp/remove/"
REAUTH = "/mfa/confirm-password/"


def setup_device(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def secret_on_page(page: str) -> str:
    return re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page).group(1)


def test_setup_page_shows_qr_code_secret_and_apps_and_is_not_cached(
    clock, client_signed_in, technician
):
    response = client_signed_in.get(SETUP)

    page = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    device = setup_device(technician)
    secret = b32encode(device.bin_key).decode().rstrip("=")
    shown = secret_on_page(page)
    assert shown.replace(" ", "") == secret
    assert all(len(group) == 4 for group in shown.split(" "))
    for app in ("Google Authenticator", "Microsoft Authenticator", "Authy", "RFC 6238"):
        assert app in page
    assert qr_code_svg(totp_config_uri(device=device)) in page


def test_qr_code_is_inline_svg_the_csp_lets_render(clock, client_signed_in):
    response = client_signed_in.get(SETUP)

    svg = re.search(r"<svg.*?</svg>", response.content.decode(), re.S).group(0)
    assert "<path" in svg
    assert "style" not in svg
    assert "<script" not in svg
    assert "href" not in svg
    policy = response["Content-Security-Policy"]
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_otpauth_uri_names_the_issuer_with_the_tenant_and_the_email(
    clock, client_signed_in, technician
):
    client_signed_in.get(SETUP)
    device = setup_device(technician)

    uri = totp_config_uri(device=device)

    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert unquote(parts.path) == "/Portcullis (Northwind IT):tech@northwind.example"
    query = parse_qs(parts.query)
    assert query["issuer"] == ["Portcullis (Northwind IT)"]
    assert query["secret"] == [b32encode(device.bin_key).decode().rstrip("=")]
    assert query["digits"] == ["6"]
    assert query["period"] == ["30"]


def test_secret_never_appears_in_a_url_a_browser_requests(clock, client_signed_in, technician):
    """The tap-to-add otpauth:// link hands the secret to the phone's authenticator app (as the
    QR code does); no address the browser fetches or sends as a referrer carries it."""
    page = client_signed_in.get(SETUP).content.decode()
    secret = secret_on_page(page).replace(" ", "")

    urls = re.findall(r'(?:href|action|src)="([^"]*)"', page)
    fetched = [url for url in urls if not url.startswith("otpauth://totp/")]
    assert fetched
    assert not any(secret in url or secret.lower() in url for url in fetched)
    tap_to_add = [url for url in urls if url.startswith("otpauth://totp/")]
    assert len(tap_to_add) == 1 and f"secret={secret}" in tap_to_add[0]
    response = client_signed_in.post(SETUP, {"otp_token": "000000"})
    assert secret not in response.get("Location", "")


def test_confirming_with_a_code_turns_the_app_on_and_shows_backup_codes_once(
    clock, client_signed_in, technician, django_capture_on_commit_callbacks
):
    client_signed_in.get(SETUP)
    device = setup_device(technician)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_signed_in.post(SETUP, {"otp_token": device_code(device)})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", page)
    assert len(codes) == 10
    assert "only time these codes are shown" in page
    assert 'download="portcullis-backup-codes.txt"' in page
    device.refresh_from_db()
    assert device.confirmed
    assert user_has_device(technician, confirmed=True)
    assert client_signed_in.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert BackupCodeDevice.objects.get(user=technician).codes_left() == 10
    enrolled = AuditEvent.objects.get(event=AuditEventType.MFA_ENROLLED)
    assert enrolled.target == technician
    assert enrolled.details == {"factor": "totp", "replaced": False, "backup_codes_issued": 10}
    assert [message.subject for message in mail.outbox] == ["Authenticator app added"]
    assert mail.outbox[0].to == [technician.email]
    later = client_signed_in.get("/mfa/backup-codes/").content.decode()
    assert not any(code in later for code in codes)
    assert client_signed_in.get("/").status_code == 200


def test_confirmed_app_is_what_the_next_sign_in_asks_for(clock, client_signed_in, technician):
    client_signed_in.get(SETUP)
    client_signed_in.post(SETUP, {"otp_token": device_code(setup_device(technician))})
    clock.shift(30)

    client = sign_in(Client(), technician)

    assert client.get("/").url.startswith(VERIFY)
    assert client.post(VERIFY, {"otp_token": totp_code(technician)}).status_code == 302


def test_wrong_code_does_not_confirm_the_app_and_does_not_count_as_a_sign_in_failure(
    clock, client_signed_in, technician
):
    client_signed_in.get(SETUP)
    device = setup_device(technician)
    wrong = device_code(device, steps=3)

    response = client_signed_in.post(SETUP, {"otp_token": wrong})

    assert response.status_code == 200
    assert "That code didn&#x27;t match" in response.content.decode()
    assert not user_has_device(technician, confirmed=True)
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_FAILED).exists()
    assert secret_on_page(response.content.decode())  # the page is shown again, same key


def test_reload_keeps_the_same_key(clock, client_signed_in, technician):
    first = secret_on_page(client_signed_in.get(SETUP).content.decode())
    second = secret_on_page(client_signed_in.get(SETUP).content.decode())

    assert first == second
    assert TOTPDevice.objects.filter(user=technician).count() == 1


def test_abandoned_setup_never_counts_and_starting_again_replaces_it(
    clock, client_signed_in, technician
):
    client_signed_in.get(SETUP)
    abandoned = setup_device(technician)

    assert not user_has_device(technician, confirmed=True)
    again = sign_in(Client(), technician)
    assert again.get("/").status_code == 200  # no second step for an unconfirmed app
    assert again.post(VERIFY, {"otp_token": device_code(abandoned)}).status_code == 302
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_VERIFIED).exists()

    again.get(SETUP)
    assert not TOTPDevice.objects.filter(pk=abandoned.pk).exists()
    assert TOTPDevice.objects.filter(user=technician).count() == 1


def test_setup_left_too_long_is_replaced(clock, client_signed_in, technician, settings):
    client_signed_in.get(SETUP)
    stale = setup_device(technician)
    clock.shift(settings.MFA_SETUP_MINUTES * 60 + 1)
    client_signed_in.post("/mfa/confirm-password/", {"password": "correct-horse-battery-staple"})

    late = client_signed_in.post(SETUP, {"otp_token": device_code(stale)})

    assert late.status_code == 302
    assert late.url.startswith(SETUP)
    assert not TOTPDevice.objects.get(pk=stale.pk).confirmed
    client_signed_in.get(late.url)
    assert not TOTPDevice.objects.filter(pk=stale.pk).exists()


def test_replacing_the_app_keeps_backup_codes_and_the_old_app_stops_working(
    clock, user_with_totp, django_capture_on_commit_callbacks
):
    codes = backup_codes_issue(user_with_totp)
    old = TOTPDevice.objects.get(user=user_with_totp, confirmed=True)
    client = sign_in_with_totp(Client(), user_with_totp)
    page = client.get(SETUP).content.decode()
    assert "replaces the authenticator app you use now" in page
    new = setup_device(user_with_totp)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SETUP, {"otp_token": device_code(new)})

    assert response.status_code == 302
    assert response.url == "/mfa/"
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert TOTPDevice.objects.get(user=user_with_totp).pk == new.pk
    assert BackupCodeDevice.objects.get(user=user_with_totp).codes_left() == len(codes)
    enrolled = AuditEvent.objects.get(event=AuditEventType.MFA_ENROLLED)
    assert enrolled.details["replaced"] is True
    assert [message.subject for message in mail.outbox] == ["Authenticator app replaced"]


def test_changing_factors_long_after_sign_in_asks_for_the_password(
    clock, client_signed_in, technician, password, settings
):
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    response = client_signed_in.get(SETUP)
    assert response.status_code == 302
    assert response.url == f"{REAUTH}?next=%2Fmfa%2Ftotp%2Fsetup%2F"
    assert not TOTPDevice.objects.filter(user=technician).exists()

    wrong = client_signed_in.post(REAUTH, {"password": "not-my-password", "next": SETUP})
    assert wrong.status_code == 200
    assert "That password is not right" in wrong.content.decode()
    failed = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_FAILED)
    assert failed.target == technician

    right = client_signed_in.post(REAUTH, {"password": password, "next": SETUP})
    assert right.url == SETUP
    assert client_signed_in.get(SETUP).status_code == 200


def test_reauthentication_ignores_an_offsite_next(clock, client_signed_in, password):
    response = client_signed_in.post(
        REAUTH, {"password": password, "next": "https://evil.example/"}
    )

    assert response.url == "/mfa/"


def test_remove_turns_mfa_off_audits_and_mails(
    clock, user_with_totp, django_capture_on_commit_callbacks
):
    backup_codes_issue(user_with_totp)
    client = sign_in_with_totp(Client(), user_with_totp)
    assert client.get(REMOVE).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(REMOVE)

    assert response.url == "/mfa/"
    assert not TOTPDevice.objects.filter(user=user_with_totp).exists()
    assert not BackupCodeDevice.objects.filter(user=user_with_totp).exists()
    assert not BackupCode.objects.exists()
    removed = AuditEvent.objects.get(event=AuditEventType.MFA_REMOVED)
    assert removed.details == {"factor": "totp", "backup_codes_removed": True}
    assert [message.subject for message in mail.outbox] == ["Two-factor authentication turned off"]
    assert client.get("/").status_code == 200


def test_remove_needs_a_fresh_password(clock, user_with_totp, settings):
    client = sign_in_with_totp(Client(), user_with_totp)
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    response = client.post(REMOVE)

    assert response.url.startswith(REAUTH)
    assert TOTPDevice.objects.filter(user=user_with_totp).exists()
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_REMOVED).exists()


def test_remove_is_refused_while_mfa_is_required(clock, user_with_totp, tenant):
    tenant.require_mfa = True
    tenant.save()
    client = sign_in_with_totp(Client(), user_with_totp)

    response = client.post(REMOVE, follow=True)

    assert "can be replaced but not removed" in response.content.decode()
    assert TOTPDevice.objects.filter(user=user_with_totp, confirmed=True).exists()
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_REMOVED).exists()


def test_required_enrolment_completes_the_sign_in(
    clock, client, owner, tenant, django_capture_on_commit_callbacks
):
    tenant.require_mfa = True
    tenant.save()
    sign_in(client, owner, next_page="/mfa/")
    key_before = client.session.session_key
    assert client.get("/").url.startswith(SETUP)
    page = client.get(f"{SETUP}?next=/mfa/").content.decode()
    assert "Your organisation requires two-factor authentication" in page

    response = client.post(SETUP, {"otp_token": device_code(setup_device(owner)), "next": "/mfa/"})

    assert response.status_code == 200  # the backup codes, shown once
    assert 'href="/mfa/"' in response.content.decode()
    assert client.session.session_key != key_before
    assert client.get("/").status_code == 200
    succeeded = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_SUCCEEDED)
    assert succeeded.details == {"door": "password", "second_factor": "totp"}
    assert AuditEvent.objects.get(event=AuditEventType.SECOND_STEP_DUE).details == {"step": "enrol"}


def test_overview_lists_factors_and_codes_left(clock, user_with_totp):
    backup_codes_issue(user_with_totp)
    client = sign_in_with_totp(Client(), user_with_totp)

    response = client.get("/mfa/")

    page = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert "Authenticator app" in page
    assert "10 unused backup codes left" in page
    assert 'href="/mfa/totp/setup/"' in page
    assert 'href="/mfa/totp/remove/"' in page


def test_setup_offers_a_tap_to_add_link_and_a_digit_keypad(clock, client_signed_in):
    page = client_signed_in.get(SETUP).content.decode()

    assert 'href="otpauth://totp/' in page
    assert 'inputmode="numeric"' in page
    assert 'autocomplete="one-time-code"' in page


def test_adding_the_first_app_says_so_above_the_backup_codes(clock, client_signed_in, technician):
    client_signed_in.get(SETUP)

    response = client_signed_in.post(SETUP, {"otp_token": device_code(setup_device(technician))})

    shown = response.content.decode()
    assert "Save your backup codes" in shown
    assert "Your authenticator app is set up" in shown
    assert "data-copy-target" in shown and "data-print" in shown
