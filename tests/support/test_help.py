import pytest
from django.urls import reverse
from django.utils.html import escape

from support.guides import GUIDES
from tests.signing_in import VERIFY, sign_in_attempt

pytestmark = pytest.mark.django_db


def test_help_index_lists_every_guide_signed_out(client):
    response = client.get("/help/")

    assert response.status_code == 200
    for guide in GUIDES:
        assert reverse("support:guide", args=[guide.slug]) in response.content.decode()


@pytest.mark.parametrize("guide", GUIDES, ids=lambda guide: guide.slug)
def test_every_guide_renders_signed_out_and_signed_in(client, guide, client_signed_in):
    from django.test import Client

    for browser in (Client(), client_signed_in):
        response = browser.get(f"/help/{guide.slug}/")
        assert response.status_code == 200
        assert escape(guide.title) in response.content.decode()


def test_unknown_guide_is_a_404(client):
    assert client.get("/help/no-such-guide/").status_code == 404


def test_guides_show_the_configured_address_and_lockout_numbers(client, settings):
    settings.SITE_URL = "https://portcullis.example-msp.net"
    settings.LOCKOUT_FAILURES = 7
    settings.LOCKOUT_MINUTES = 22.5

    lockouts = client.get("/help/lockouts/").content.decode()
    phishing = client.get("/help/phishing/").content.decode()
    safely = client.get("/help/signing-in-safely/").content.decode()

    assert "<strong>7</strong> failed sign-ins" in lockouts
    assert "<strong>22.5 minutes</strong>" in lockouts
    assert "https://portcullis.example-msp.net" in phishing
    assert "https://portcullis.example-msp.net" in safely


@pytest.mark.parametrize(
    ("path", "link"),
    [
        ("/accounts/login/", "/recovery/"),
        ("/accounts/login/", "/help/"),
        ("/accounts/password/reset/", "/help/forgotten-password/"),
        ("/accounts/password/reset/", "/recovery/"),
    ],
)
def test_pages_where_people_get_stuck_link_to_help(client, path, link):
    assert f'href="{link}"' in client.get(path).content.decode()


def test_lock_notice_links_to_help_and_recovery(client, technician, settings):
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(client, technician.email, "wrong-one!")

    response = sign_in_attempt(client, technician.email, "wrong-one!")

    assert response.status_code == 429
    content = response.content.decode()
    assert 'href="/recovery/"' in content
    assert 'href="/help/lockouts/"' in content


def test_second_step_links_to_help_and_reaches_it(half_signed_in):
    content = half_signed_in.get(VERIFY).content.decode()

    assert 'href="/recovery/"' in content
    assert 'href="/help/codes-not-working/"' in content
    assert half_signed_in.get("/help/codes-not-working/").status_code == 200
    assert half_signed_in.get("/recovery/").status_code == 200
