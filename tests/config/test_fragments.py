"""`{% reuse %}` (config/fragments.py): the parts of a page rendered once per process are reused
only for readers they fit: the same language, and never what is the reader's own."""

from django.conf import settings
from django.test import Client

LOGIN = "/accounts/login/"


def test_each_language_gets_its_own_words_from_the_reused_parts(db):
    english = Client().get(LOGIN).content.decode()
    spanish_reader = Client()
    spanish_reader.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    spanish = spanish_reader.get(LOGIN).content.decode()
    again_english = Client().get(LOGIN).content.decode()

    for page in (english, again_english):
        assert "Skip to content" in page
        assert "Forgot password?" in page
        assert "Change language" in page
    assert "Saltar al contenido" in spanish
    assert "¿Has olvidado tu contraseña?" in spanish
    assert "Cambiar idioma" in spanish
    assert "Skip to content" not in spanish


def test_what_is_the_readers_own_is_rendered_for_each_reader(db):
    first = Client().get(LOGIN, {"next": "/mfa/"}).content.decode()
    second = Client().get(LOGIN, {"next": "/teams/sessions/"}).content.decode()

    # The footer's language menu comes back to the page as it was asked for.
    assert 'value="/accounts/login/?next=%2Fmfa%2F"' in first
    assert 'value="/accounts/login/?next=%2Fteams%2Fsessions%2F"' in second
    assert "next=%2Fmfa%2F" not in second
