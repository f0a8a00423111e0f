"""One side of `make bench` part 1, in a process of its own: Portcullis (`config.settings`) or
bare Django (`bench.bare.settings`), chosen by DJANGO_SETTINGS_MODULE.

bench/run.py starts one process per side and drives both in lock-step rounds: it writes one
JSON command a line on the process's stdin and reads one JSON answer a line back. Each request
goes through the side's whole Django stack (its WSGI handler, middleware, view and templates,
by Django's test client, with CSRF checked as for a browser) and is timed here, in the process
that serves it, so the pipe between the processes is never inside a timing. Anything else the
process prints goes to stderr.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

# The answers get their own copy of stdout; stdout itself (logging, stray prints) is stderr.
answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

LOGIN = "/accounts/login/"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# One client for the process: a new one would load the middleware again (whitenoise alone
# walks the static files then), which a server does once, at start.
BROWSER = Client(SERVER_NAME="localhost", enforce_csrf_checks=True)


def fresh_browser() -> Client:
    """The process's client, as a browser that has never been to the site."""
    BROWSER.cookies.clear()
    return BROWSER


def csrf_token(response) -> str:
    match = CSRF_FIELD.search(response.content.decode())
    if response.status_code != 200 or match is None:
        raise RuntimeError(f"{response.request['PATH_INFO']}: no form ({response.status_code})")
    return match.group(1)


def redirected(response, to: str, *, person: str) -> None:
    if response.status_code != 302 or not response.url.startswith(to):
        raise RuntimeError(f"{person}: expected a redirect to {to}, got {response}")


def timed(request):
    began = time.perf_counter()
    response = request()
    return response, time.perf_counter() - began


def whole_sign_in(email: str, password: str) -> dict:
    """A fresh browser GETs the form and POSTs it: signed in, sent to "/"."""
    browser = fresh_browser()
    form, get_s = timed(lambda: browser.get(LOGIN))
    fields = {"username": email, "password": password, "csrfmiddlewaretoken": csrf_token(form)}
    response, post_s = timed(lambda: browser.post(LOGIN, fields))
    redirected(response, "/", person=email)
    if response.url != "/":
        raise RuntimeError(f"sign-in of {email} was not whole: {response.url}")
    return {"get_s": get_s, "post_s": post_s}


def second_step_sign_in(email: str, password: str) -> dict:
    """A person with an authenticator app: the form (untimed), the password POST that lands on
    /mfa/verify/, that page (untimed, for its form), then the code POST that signs in."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    browser = fresh_browser()
    fields = {"username": email, "password": password}
    fields["csrfmiddlewaretoken"] = csrf_token(browser.get(LOGIN))
    response, password_s = timed(lambda: browser.post(LOGIN, fields))
    redirected(response, "/mfa/verify/", person=email)
    step = response.url
    token = csrf_token(browser.get(step))
    device = TOTPDevice.objects.get(user__email=email)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    answer = {"otp_token": f"{code:0{device.digits}d}", "csrfmiddlewaretoken": token}
    response, verify_s = timed(lambda: browser.post(step, answer))
    redirected(response, "/", person=email)
    return {"password_s": password_s, "verify_s": verify_s}


def statements(email: str, password: str) -> dict:
    """The statements of one whole sign-in (GET and POST), transaction control included."""
    with CaptureQueriesContext(connection) as queries:
        whole_sign_in(email, password)
    return {"statements": len(queries), "sql": [query["sql"] for query in queries]}


def people_add(emails: list[str], password_hash: str) -> dict:
    """The bare side's people (Django's own user model), with the Portcullis side's hash."""
    from django.contrib.auth.models import User

    User.objects.bulk_create(User(username=email, password=password_hash) for email in emails)
    return {"people": len(emails)}


def main() -> None:
    bare = settings.ROOT_URLCONF.startswith("bench.")
    override_settings(PASSWORD_HASHERS=PASSWORD_HASHERS).enable()
    original_name = connection.settings_dict["NAME"]
    if bare:
        # A throwaway database beside the named one, as bench/run.py makes for Portcullis.
        if connection.vendor == "sqlite":
            named = Path(original_name)
            connection.settings_dict["TEST"]["NAME"] = str(named.with_name(f"test_{named.name}"))
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    commands = {
        "whole": whole_sign_in,
        "second_step": second_step_sign_in,
        "statements": statements,
        "people": people_add,
    }
    try:
        answers.write(json.dumps({"ready": connection.vendor}) + "\n")
        for line in sys.stdin:
            command = json.loads(line)
            answer = commands[command.pop("do")](**command)
            answers.write(json.dumps(answer) + "\n")
    finally:
        if bare:
            connection.close()
            connection.creation.destroy_test_db(original_name, verbosity=0)


if __name__ == "__main__":
    main()
