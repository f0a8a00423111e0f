import re

import pytest


def test_pages_carry_security_headers(client, db):
    response = client.get("/accounts/login/")

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_the_policy_reports_violations_to_the_sites_endpoint(client, db, settings):
    response = client.get("/accounts/login/")

    policy = response["Content-Security-Policy"]
    assert "report-uri /csp-report/" in policy
    assert "report-to csp" in policy
    assert response["Reporting-Endpoints"] == f'csp="{settings.SITE_URL}/csp-report/"'


@pytest.mark.parametrize("path", ["/static/favicon.svg", "/static/css/site.css"])
def test_static_files_carry_the_pages_framing_and_content_protections(client, db, path):
    response = client.get(path)

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "sandbox" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/logout/"])
def test_pages_have_no_inline_script_or_external_assets(client, db, path):
    page = client.get(path).content.decode()

    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert not re.search(r"(src|href)=\"https?://", page)


def test_stylesheet_is_served_locally(client, db):
    page = client.get("/accounts/login/").content.decode()
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page).group(1)

    response = client.get(stylesheet)

    assert response.status_code == 200


def test_unknown_page_is_a_plain_404_without_traceback(client, db):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert b"Traceback" not in response.content


def test_bad_host_header_is_a_400(client, db):
    response = client.get("/accounts/login/", HTTP_HOST="evil.example")

    assert response.status_code == 400


def test_admin_has_no_side_door_sign_in(client, db):
    response = client.get("/admin/login/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
