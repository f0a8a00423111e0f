"""The site in its second language, end to end: a browser asking for Spanish signs in, meets the
second step and the lock notice, and gets its reset mail in Spanish; the footer's switcher
changes the language for that browser only."""

from django.core import mail
from django.test import Client

from tests.accounts.helpers import mails_to
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.signing_in import LOGIN, VERIFY, WRONG_PASSWORD, sign_in_attempt

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es"}
SIGN_IN_ES = "Iniciar sesión"
FORGOT_PASSWORD_ES = "¿Has olvidado tu contraseña?"
ENTER_CODE_ES = "Escribe tu código"
PAUSED_ES = "Inicio de sesión en pausa"
RESET_SUBJECT_ES = "Tu enlace de restablecimiento de contraseña de Portcullis"
RESET_BODY_ES = "Alguien, esperamos que tú, ha pedido restablecer la contraseña de Portcullis"


def test_sign_in_second_step_lock_notice_and_reset_mail_in_spanish(
    clock, user_with_totp, django_capture_on_commit_callbacks
):
    browser = Client(**SPANISH)

    sign_in_page = browser.get(LOGIN).content.decode()
    assert '<html lang="es"' in sign_in_page
    assert SIGN_IN_ES in sign_in_page
    assert FORGOT_PASSWORD_ES in sign_in_page

    assert sign_in_attempt(browser, user_with_totp.email, DEFAULT_PASSWORD).url.startswith(VERIFY)
    second_step = browser.get(VERIFY).content.decode()
    assert ENTER_CODE_ES in second_step

    stranger = UserFactory(tenant=user_with_totp.tenant)
    locked_browser = Client(**SPANISH)
    for _ in range(5):
        sign_in_attempt(locked_browser, stranger.email, WRONG_PASSWORD)
    lock_notice = sign_in_attempt(locked_browser, stranger.email, DEFAULT_PASSWORD)
    assert lock_notice.status_code == 429
    assert PAUSED_ES in lock_notice.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        Client(**SPANISH).post("/accounts/password/reset/", {"email": stranger.email})
    (reset_mail,) = mails_to(stranger.email)
    assert reset_mail.subject == RESET_SUBJECT_ES
    assert RESET_BODY_ES in reset_mail.body


def test_the_switcher_changes_the_language_of_this_browser_only(db):
    browser, other = Client(), Client()

    switched = browser.post("/i18n/setlang/", {"language": "es", "next": LOGIN})

    assert switched.status_code == 302 and switched.url == LOGIN
    assert SIGN_IN_ES in browser.get(LOGIN).content.decode()
    assert SIGN_IN_ES not in other.get(LOGIN).content.decode()
    assert not mail.outbox


def test_an_english_browser_gets_english(db):
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get(LOGIN).content.decode()

    assert '<html lang="en"' in page
    assert SIGN_IN_ES not in page
