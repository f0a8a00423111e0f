from django.test import Client

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def sign_in(user, password, *, ip="192.0.2.10", agent=FIREFOX_LINUX, client=None) -> Client:
    client = client or Client()
    response = client.post(
        "/accounts/login/",
        {"username": user.email, "password": password},
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=agent,
    )
    assert response.status_code == 302, response.content
    return client


def fail_sign_in(email, *, ip="198.51.100.5", agent=CHROME_WINDOWS) -> None:
    response = Client().post(
        "/accounts/login/",
        {"username": email, "password": "not-the-password-at-all"},
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=agent,
    )
    assert response.status_code == 200
