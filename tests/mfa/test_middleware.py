"""Every URL of the project, walked in the two incomplete sign-in states.

The paths come from the URL configuration itself (the admin's included), so a page added later
is covered without touching this file.
"""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

from mfa.middleware import ALLOWED_WHILE_ENROLMENT_DUE, ALLOWED_WHILE_SECOND_STEP_DUE
from tests.factories import DEFAULT_PASSWORD, OperatorFactory
from tests.mfa.helpers import SETUP, totp_code
from tests.signing_in import VERIFY, sign_in, sign_in_attempt

# What a half-signed-in session may reach; static files are checked separately.
HELP_PAGES = {"/help/", "/help/x/", "/recovery/", "/recovery/sent/"}
REACHABLE_WHILE_SECOND_STEP_DUE = {
    "/mfa/verify/",
    "/mfa/passkeys/verify/",
    "/accounts/logout/",
    "/healthz",
    "/i18n/setlang/",
    "/csp-report/",
    *HELP_PAGES,
}
REACHABLE_WHILE_ENROLMENT_DUE = {
    *HELP_PAGES,
    "/mfa/totp/setup/",
    "/mfa/confirm-password/",
    "/accounts/logout/",
    "/healthz",
    "/i18n/setlang/",
    "/csp-report/",
}
SAMPLE_BY_CONVERTER = {"int": "1", "str": "x", "slug": "x", "path": "1", "uuid": "0" * 32}
NAMED_GROUP = re.compile(r"\(\?P<\w+>([^)]*)\)")


def _samples(pattern) -> list[str]:
    """Concrete path segments for one pattern: one per alternative of a regex group such as the
    admin's `(?P<app_label>accounts|audit|...)`, a sample value for anything else."""
    if isinstance(pattern, RoutePattern):
        return [
            re.sub(
                r"<(?:(\w+):)?\w+>",
                lambda match: SAMPLE_BY_CONVERTER[match.group(1) or "str"],
                str(pattern),
            )
        ]
    regex = pattern.regex.pattern.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    group = NAMED_GROUP.search(regex)
    if group is None:
        return [regex.replace("\\", "")]
    body = group.group(1)
    choices = body.split("|") if re.fullmatch(r"[\w|]+", body) else ["x"]
    return [
        sample
        for choice in choices
        for sample in _samples_of_regex(regex[: group.start()] + choice + regex[group.end() :])
    ]


def _samples_of_regex(regex: str) -> list[str]:
    return _samples(RegexPattern(regex))


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        for sample in _samples(entry.pattern):
            if isinstance(entry, URLResolver):
                yield from _walk(entry.url_patterns, prefix + sample)
            elif isinstance(entry, URLPattern):
                yield "/" + prefix + sample


def every_path() -> list[str]:
    paths = sorted(set(_walk(get_resolver().url_patterns)))
    for path in paths:
        resolve(path)  # every sample must land on a real pattern
    return paths


def test_the_walk_covers_the_whole_site_including_the_admin(db):
    paths = every_path()

    assert len(paths) > 40
    for expected in [
        "/",
        "/accounts/login/",
        "/mfa/",
        "/mfa/backup-codes/",
        "/mfa/totp/remove/",
        "/admin/",
        "/admin/login/",
        "/admin/accounts/user/",
        "/admin/accounts/user/1/change/",
        "/admin/teams/",
        "/admin/accounts/",
        "/admin/audit/",
        *REACHABLE_WHILE_SECOND_STEP_DUE,
        *REACHABLE_WHILE_ENROLMENT_DUE,
    ]:
        assert expected in paths


def test_allow_lists_name_real_pages():
    args_by_name = {"support:guide": ["lockouts"]}
    for name in ALLOWED_WHILE_SECOND_STEP_DUE | ALLOWED_WHILE_ENROLMENT_DUE:
        assert reverse(name, args=args_by_name.get(name))


@pytest.fixture
def operator_half_signed_in(db, clock):
    """A platform operator (who can use the whole admin) past the password step only."""
    operator = OperatorFactory()
    client = Client()
    assert sign_in_attempt(client, operator.email, DEFAULT_PASSWORD).url.startswith(VERIFY)
    return operator, client


def test_half_signed_in_reaches_only_the_second_step_and_sign_out(operator_half_signed_in):
    operator, client = operator_half_signed_in
    reached = set()

    for path in every_path():
        for method in ("get", "post"):
            if method == "post" and path in REACHABLE_WHILE_SECOND_STEP_DUE:
                continue  # posting there does its real work (signing out, checking a factor)
            response = getattr(client, method)(path)
            location = response.get("Location", "")
            if response.status_code == 302 and location.startswith(VERIFY):
                continue
            reached.add(path)

    assert reached == REACHABLE_WHILE_SECOND_STEP_DUE
    # The same session reaches the admin once the second step is done, so it was the step
    # that held it back.
    client.post(VERIFY, {"otp_token": totp_code(operator)})
    assert client.get("/admin/").status_code == 200


def test_redirect_to_the_second_step_remembers_the_page_asked_for(operator_half_signed_in):
    _, client = operator_half_signed_in

    response = client.get("/admin/accounts/user/?q=tess")

    assert response.url == f"{VERIFY}?next=%2Fadmin%2Faccounts%2Fuser%2F%3Fq%3Dtess"


def test_half_signed_in_still_gets_static_files(operator_half_signed_in):
    _, client = operator_half_signed_in

    response = client.get("/static/css/site.css")

    assert response.status_code == 200


@pytest.fixture
def must_enrol(clock, owner, tenant):
    tenant.require_mfa = True
    tenant.save()
    return sign_in(Client(), owner)


def test_person_who_must_enrol_reaches_only_enrolment_and_sign_out(must_enrol, owner):
    reached = set()

    for path in every_path():
        for method in ("get", "post"):
            if method == "post" and path in REACHABLE_WHILE_ENROLMENT_DUE:
                continue
            response = getattr(must_enrol, method)(path)
            if response.status_code == 302 and response.get("Location", "").startswith(SETUP):
                continue
            reached.add(path)

    assert reached == REACHABLE_WHILE_ENROLMENT_DUE


def test_sign_in_of_a_person_who_must_enrol_goes_straight_to_enrolment(
    clock, client, owner, tenant, password
):
    tenant.require_mfa = True
    tenant.save()

    response = sign_in_attempt(client, owner.email, password)

    assert response.url == f"{SETUP}?next=%2F"


def test_turning_the_tenant_requirement_on_sends_signed_in_people_to_enrolment(
    client_signed_in, tenant
):
    assert client_signed_in.get("/").status_code == 200

    tenant.require_mfa = True
    tenant.save()

    response = client_signed_in.get("/")
    assert response.status_code == 302
    assert response.url == f"{SETUP}?next=%2F"
    assert client_signed_in.get(SETUP).status_code == 200


def test_role_requirement_applies_to_that_role_only(client, owner, technician):
    technician.role.require_mfa = True
    technician.role.save()

    tech = sign_in(client, technician)
    boss = sign_in(Client(), owner)

    assert tech.get("/").url.startswith(SETUP)
    assert boss.get("/").status_code == 200


def test_operators_pass_with_their_own_factor_whatever_a_tenant_requires(client, tenant):
    tenant.require_mfa = True
    tenant.save()
    operator = OperatorFactory()

    signed_in = sign_in(client, operator)

    assert signed_in.get("/").status_code == 200
