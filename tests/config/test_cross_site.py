"""Fetch Metadata: what a browser labels as another site's request, other than following a
link, is refused before any view runs; requests without the headers pass."""

import pytest

CROSS_SITE_NAVIGATION = {
    "HTTP_SEC_FETCH_SITE": "cross-site",
    "HTTP_SEC_FETCH_MODE": "navigate",
    "HTTP_SEC_FETCH_DEST": "document",
}


@pytest.mark.parametrize(
    "method, path, headers",
    [
        # Another site's form posting to the sign-in page.
        ("post", "/accounts/login/", CROSS_SITE_NAVIGATION),
        # Its fetch() or <img> aimed at a page or a file here.
        ("get", "/", {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_SEC_FETCH_MODE": "cors"}),
        (
            "get",
            "/static/favicon.svg",
            {
                "HTTP_SEC_FETCH_SITE": "cross-site",
                "HTTP_SEC_FETCH_MODE": "no-cors",
                "HTTP_SEC_FETCH_DEST": "image",
            },
        ),
        # Framing a page (refused by X-Frame-Options too).
        ("get", "/accounts/login/", {**CROSS_SITE_NAVIGATION, "HTTP_SEC_FETCH_DEST": "iframe"}),
    ],
)
def test_cross_site_requests_that_are_not_navigations_are_refused(
    client, db, method, path, headers
):
    response = getattr(client, method)(path, **headers)

    assert response.status_code == 403
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_following_a_link_from_another_site_opens_the_page(client, db):
    response = client.get("/accounts/login/", **CROSS_SITE_NAVIGATION)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_SEC_FETCH_MODE": "cors"},
        {"HTTP_SEC_FETCH_SITE": "none", "HTTP_SEC_FETCH_MODE": "navigate"},
    ],
)
def test_same_origin_requests_and_those_without_fetch_metadata_pass(client, db, headers):
    # Without the headers: older browsers, curl, and server-to-server calls (OpenID Connect
    # back-channel, webhooks, health checks).
    response = client.post(
        "/i18n/setlang/", {"language": "es", "next": "/accounts/login/"}, **headers
    )

    assert response.status_code == 302


def test_the_health_check_answers_a_monitor_without_fetch_metadata(client, db):
    assert client.get("/healthz").status_code == 200
