"""One sign-in attempt, one policy, at every door: the same outcome whichever door is used.

The doors into a session: the password form, a set-password link (a reset's or an
invitation's, then the password it set), single sign-on through the tenant's provider (which
reports one factor, or "mfa" in the token's `amr`), and a passkey alone. A remembered browser
is no door of its own: it is the browser a person comes back in, so it is a column of the
policy table.

POLICIES is the table: one row per combination worth telling apart of the person's role (MFA
required, a passkey required), the tenant's single sign-on (optional, required, required but
the person is one of its break-glass people), whether the provider's multi-factor sign-in is
accepted, whether a passkey alone may sign in, the IP access list (none, the address on it,
the address off it), a new password required of the person, the factors they hold, and
whether the browser was remembered. Every row runs at every door the person can use (a
passkey alone needs a passkey).

`expected_outcome` states what a policy means, once, for all doors. A door contributes only
what its credential is: whether the policy closes it (single sign-on required closes the
password and the set-password links; a passkey alone is closed unless the tenant allows it,
and by single sign-on required), which second factor the credential itself brings (a passkey;
the provider's "mfa", when the tenant accepts it), and whether it sets a new password on the
way (the links: that is the new password a policy may require, and it makes the browser forget
being remembered, as every new password does). Past that, one rule for every door:

- an address off the IP access list is refused after the credential, before any step;
- a passkey, or else the provider's accepted "mfa", or else a remembered browser, passes the
  second step (and spares enrolling an authenticator app);
- where a passkey is required only a passkey does: the provider's "mfa" and a remembered
  browser count for nothing, as after a password, so someone who holds a factor is asked at
  the second step (for their passkey, or their code before enrolling a passkey) and someone
  who holds none enrols a passkey;
- otherwise the person stops at the second step (they hold a factor) or enrols an
  authenticator app (MFA is required);
- past the second factor a required new password comes next; then the person is signed in,
  recording the second factor that passed ("none" without one).

Each door has a driver that takes the browser and the person and presents that door's
credential through the public surface (the test client, the suite's OpenID Connect provider,
the software authenticator); `outcome_seen` reads what happened the same way for every door:
signed in (the session is the person's, the dashboard opens, one "signed in" event naming the
second factor), stopped at a named step (the answer sends the browser to it, nobody is signed
in, the sign-in waits there), or refused (which refusal by its audit event, the answer is a
refusal page or the sign-in page saying why, nobody signed in, nothing pending, and no
password set on the way).
"""

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponse
from django.test import Client

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from sso.models import IdentityProvider
from sso.services import domain_claim
from teams.models import AccessListEntry
from teams.services.access_list import access_list_entry_save, access_list_switch
from teams.services.people import person_password_change_require, set_password_mail_context
from tests.factories import DEFAULT_PASSWORD, TOTPDeviceFactory
from tests.mfa.passkeys.authenticator import (
    ORIGIN,
    SIGN_IN,
    SoftAuthenticator,
    passkey_register,
    sign_in_options,
)
from tests.mfa.test_remembered_browser import remembered_client
from tests.oidc_provider import OidcProvider
from tests.signing_in import LOGIN, VERIFY, WRONG_PASSWORD, sign_in, sign_in_attempt
from tests.sso.conftest import provider_set_up, sso_sign_in

pytestmark = pytest.mark.django_db

APP_ENROL = "/mfa/totp/setup/"
PASSKEY_ENROL = "/mfa/passkeys/add/"
NEW_PASSWORD_STEP = "/accounts/password/change/"
STEPS = {VERIFY, APP_ENROL, PASSKEY_ENROL, NEW_PASSWORD_STEP}
DASHBOARD = "/"
NEW_PASSWORD = "a-brand-new-passphrase-from-the-link"

# Why a door refused, as its audit event tells it.
SINGLE_SIGN_ON_REQUIRED = "single_sign_on_required"
ACCESS_LIST = "access_list"
PASSWORDLESS_OFF = "passwordless_off"

# The second factor a sign-in records (`second_factor` of SIGN_IN_SUCCEEDED).
PASSKEY = "passkey"
BY_PROVIDER = "identity_provider"
REMEMBERED = "remembered_browser"
NO_SECOND_FACTOR = "none"

APP, PASSKEY_HELD = "app", "passkey"
OFFICE = "192.0.2.0/24"
ON_LIST, OFF_LIST = "192.0.2.10", "198.51.100.7"
OPTIONAL, REQUIRED, BREAK_GLASS = "optional", "required", "required, break-glass"


# --- the outcomes


@dataclass(frozen=True)
class SignedIn:
    """Signed in, the sign-in recording this second factor."""

    second_factor: str


@dataclass(frozen=True)
class Stopped:
    """Not signed in yet: the sign-in waits at this step's page."""

    step: str


@dataclass(frozen=True)
class Refused:
    """Turned away for `reason`. `told_why`: the answer is a refusal page, or the sign-in page
    with a message, saying why (the way in instead, the approved networks). `password_set`: a
    password was set on the way, which a refused attempt must not do."""

    reason: str
    told_why: bool = True
    password_set: bool = False


@dataclass(frozen=True)
class Unexplained:
    """Anything else the door did, said for the failure message."""

    what: str


# --- the policies


@dataclass(frozen=True)
class Policy:
    """One row: the policy, and the person and browser it meets. `factors` are what the
    person holds (APP, PASSKEY_HELD), `sso` the tenant's single sign-on (OPTIONAL, REQUIRED,
    or BREAK_GLASS: required, but the person is one of its break-glass people), `address`
    the browser's when the tenant has an IP access list (ON_LIST, OFF_LIST)."""

    id: str
    factors: frozenset[str] = frozenset()
    mfa_required: bool = False
    passkey_required: bool = False
    sso: str = OPTIONAL
    provider_mfa_accepted: bool = True
    passkey_alone: bool = True
    address: str | None = None
    remembered: bool = False
    new_password_required: bool = False


def row(name: str, *factors: str, **policy) -> Policy:
    return Policy(id=name, factors=frozenset(factors), **policy)


MFA = {"mfa_required": True}
PASSKEY_REQUIRED = {"passkey_required": True}
PROVIDER_MFA_REFUSED = {"provider_mfa_accepted": False}
PASSKEY_ALONE_OFF = {"passkey_alone": False}
REMEMBERED_BROWSER = {"remembered": True}
NEW_PASSWORD_REQUIRED = {"new_password_required": True}

POLICIES = [
    row("no-factor"),
    row("mfa-required,no-factor", **MFA),
    row("app", APP),
    row("mfa-required,app", APP, **MFA),
    row("passkey", PASSKEY_HELD),
    row("mfa-required,app+passkey", APP, PASSKEY_HELD, **MFA),
    row("provider-mfa-refused,app", APP, **PROVIDER_MFA_REFUSED),
    row("provider-mfa-refused,mfa-required,no-factor", **PROVIDER_MFA_REFUSED, **MFA),
    row("passkey-required,no-factor", **PASSKEY_REQUIRED),
    row("passkey-required,app", APP, **PASSKEY_REQUIRED),
    row("passkey-required,passkey", PASSKEY_HELD, **PASSKEY_REQUIRED),
    row("passkey-required,mfa-required,app+passkey", APP, PASSKEY_HELD, **PASSKEY_REQUIRED, **MFA),
    row("remembered,app", APP, **REMEMBERED_BROWSER),
    row("remembered,mfa-required,app+passkey", APP, PASSKEY_HELD, **REMEMBERED_BROWSER, **MFA),
    row("remembered,provider-mfa-refused,app", APP, **REMEMBERED_BROWSER, **PROVIDER_MFA_REFUSED),
    row("remembered,passkey-required,app", APP, **REMEMBERED_BROWSER, **PASSKEY_REQUIRED),
    row(
        "remembered,passkey-required,app+passkey",
        APP,
        PASSKEY_HELD,
        **REMEMBERED_BROWSER,
        **PASSKEY_REQUIRED,
    ),
    row("passkey-alone-off,passkey", PASSKEY_HELD, **PASSKEY_ALONE_OFF),
    row("new-password-required,no-factor", **NEW_PASSWORD_REQUIRED),
    row("new-password-required,passkey", PASSKEY_HELD, **NEW_PASSWORD_REQUIRED),
    row("new-password-required,remembered,app", APP, **REMEMBERED_BROWSER, **NEW_PASSWORD_REQUIRED),
    row("sso-required,no-factor", sso=REQUIRED),
    row("sso-required,app+passkey", APP, PASSKEY_HELD, sso=REQUIRED),
    row("sso-required,passkey-required,passkey", PASSKEY_HELD, sso=REQUIRED, **PASSKEY_REQUIRED),
    row("sso-required,remembered,app", APP, sso=REQUIRED, **REMEMBERED_BROWSER),
    row("sso-required,passkey-alone-off,passkey", PASSKEY_HELD, sso=REQUIRED, **PASSKEY_ALONE_OFF),
    row("sso-required,break-glass,app+passkey", APP, PASSKEY_HELD, sso=BREAK_GLASS),
    row("on-list,app+passkey", APP, PASSKEY_HELD, address=ON_LIST),
    row("on-list,remembered,app", APP, address=ON_LIST, **REMEMBERED_BROWSER),
    row("off-list,app+passkey", APP, PASSKEY_HELD, address=OFF_LIST),
    row("off-list,remembered,app", APP, address=OFF_LIST, **REMEMBERED_BROWSER),
    row("off-list,passkey-required,no-factor", address=OFF_LIST, **PASSKEY_REQUIRED),
    row("off-list,sso-required,passkey", PASSKEY_HELD, sso=REQUIRED, address=OFF_LIST),
]


# --- the doors


@dataclass
class Person:
    """Someone signing in, with what they hold: their account here, their passkey's
    authenticator and their account at the tenant's provider."""

    user: User
    authenticator: SoftAuthenticator
    provider: OidcProvider


def password_door(client: Client, person: Person) -> HttpResponse:
    return sign_in_attempt(client, person.user.email, DEFAULT_PASSWORD)


def _set_password_link_door(client: Client, person: Person, *, invitation: bool) -> HttpResponse:
    """Open the link as mailed (a link mailed before the policy changed is as good), choose a
    password on its page when it offers one, and sign in with it. The link's own answer when
    it offers none."""
    link = set_password_mail_context(user=person.user, invitation=invitation)["link"]
    page = client.get(urlsplit(link).path, follow=True)
    if 'name="new_password1"' not in page.content.decode():
        return page
    form_address = page.redirect_chain[-1][0] if page.redirect_chain else urlsplit(link).path
    chosen = client.post(
        form_address, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    if chosen.status_code != 302:
        return chosen
    return sign_in_attempt(client, person.user.email, NEW_PASSWORD)


def reset_link_door(client: Client, person: Person) -> HttpResponse:
    return _set_password_link_door(client, person, invitation=False)


def invitation_link_door(client: Client, person: Person) -> HttpResponse:
    """An invited person has no password yet: their link chooses the first."""
    person.user.set_unusable_password()
    person.user.save(update_fields=["password"])
    return _set_password_link_door(client, person, invitation=True)


def _provider_door(client: Client, person: Person, *, amr: list[str]) -> HttpResponse:
    person.provider.sign_in_as(sub=f"subject-{person.user.pk}", email=person.user.email, amr=amr)
    return sso_sign_in(client, person.user.email)


def provider_door(client: Client, person: Person) -> HttpResponse:
    return _provider_door(client, person, amr=["pwd"])


def provider_mfa_door(client: Client, person: Person) -> HttpResponse:
    return _provider_door(client, person, amr=["pwd", "mfa"])


def passkey_alone_door(client: Client, person: Person) -> HttpResponse:
    options = sign_in_options(client)
    return client.post(
        SIGN_IN, {"credential": person.authenticator.get(options), "next": DASHBOARD}
    )


@dataclass(frozen=True)
class Door:
    """A way in: its driver, and what its credential is (nothing else of it enters the
    expectation)."""

    name: str
    drive: Callable[[Client, Person], HttpResponse]
    # Closed by single sign-on required (break-glass people aside): it ends in a password.
    password: bool = False
    # Closed unless the tenant allows a passkey alone, and by single sign-on required.
    passkey_alone: bool = False
    # The second factor the credential itself proves, if any.
    brings: str | None = None
    # It sets a new password on the way: the one a policy may require, and one that makes the
    # browser forget being remembered (every new password does).
    sets_password: bool = False
    needs: frozenset[str] = field(default_factory=frozenset)


DOORS = [
    Door("password", password_door, password=True),
    Door("reset-link", reset_link_door, password=True, sets_password=True),
    Door("invitation-link", invitation_link_door, password=True, sets_password=True),
    Door("sso", provider_door),
    Door("sso-amr-mfa", provider_mfa_door, brings=BY_PROVIDER),
    Door(
        "passkey-alone",
        passkey_alone_door,
        passkey_alone=True,
        brings=PASSKEY,
        needs=frozenset({PASSKEY_HELD}),
    ),
]


# --- what a policy means, at every door


def door_closed_by(policy: Policy, door: Door) -> str | None:
    """The refusal of a door the policy does not allow at all, if it is closed."""
    if door.passkey_alone and not policy.passkey_alone:
        return PASSWORDLESS_OFF
    if (door.password or door.passkey_alone) and policy.sso == REQUIRED:
        return SINGLE_SIGN_ON_REQUIRED
    return None


def second_factor_proved(policy: Policy, door: Door) -> str | None:
    """The second factor this attempt has proved before any step: the credential's own (the
    provider's only where the tenant accepts it), or else a remembered browser. Where a
    passkey is required, nothing but a passkey counts: a cookie can be stolen and a provider's
    factor phished."""
    if door.brings == PASSKEY:
        return PASSKEY
    if policy.passkey_required:
        return None
    if door.brings == BY_PROVIDER and policy.provider_mfa_accepted:
        return BY_PROVIDER
    if policy.remembered and not door.sets_password:
        return REMEMBERED
    return None


def expected_outcome(policy: Policy, door: Door) -> SignedIn | Stopped | Refused:
    """What the policy means for an attempt at this door (module docstring)."""
    closed = door_closed_by(policy, door)
    if closed is not None:
        return Refused(closed)
    if policy.address == OFF_LIST:
        return Refused(ACCESS_LIST)
    second_factor = second_factor_proved(policy, door)
    if second_factor is None and policy.factors:
        return Stopped(VERIFY)
    if second_factor is None and policy.passkey_required:
        return Stopped(PASSKEY_ENROL)
    if second_factor is None and policy.mfa_required:
        return Stopped(APP_ENROL)
    if policy.new_password_required and not door.sets_password:
        return Stopped(NEW_PASSWORD_STEP)
    return SignedIn(second_factor or NO_SECOND_FACTOR)


# --- what happened, read the same way at every door


def _refusal_reasons(events, *, way_in: str) -> set[str]:
    """Why the attempt was turned away, by the events it recorded. A required single sign-on
    counts however a door records it: a refusal event naming the refusal or the way in
    instead (the provider's label), so each door's own event for it reads the same."""
    reasons = set()
    for event in events:
        details = {key: str(value) for key, value in (event.details or {}).items()}
        a_refusal = "refused" in AuditEventType(event.event).label.lower()
        if event.event == AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST:
            reasons.add(ACCESS_LIST)
        elif event.event == AuditEventType.PASSKEY_SIGN_IN_FAILED and "refused" in details:
            reasons.add(details["refused"])
        elif a_refusal and {SINGLE_SIGN_ON_REQUIRED, way_in} & set(details.values()):
            reasons.add(SINGLE_SIGN_ON_REQUIRED)
    return reasons


REFUSAL_WORDS = {
    ACCESS_LIST: "approved networks",
    PASSWORDLESS_OFF: "passkey alone",
}


def _answer_page(client: Client, response: HttpResponse) -> str | None:
    """The page the person reads after a refusal: the answer's own (403, or 200 where a link
    says it sets nothing), or the sign-in page it sends the browser to, with its message.
    None when the answer is no such page."""
    if response.status_code == 302 and urlsplit(response.url).path == LOGIN:
        return client.get(response.url).content.decode()
    if response.status_code in {200, 403}:
        return response.content.decode()
    return None


def _page_the_site_holds(client: Client) -> str:
    """Where the dashboard sends this browser: the step its waiting sign-in needs, or the
    sign-in page when nothing waits."""
    return urlsplit(client.get(DASHBOARD).url).path


def outcome_seen(
    client: Client, person: Person, response: HttpResponse, since: int
) -> SignedIn | Stopped | Refused | Unexplained:
    """What the attempt did, read from the browser's session, the answer, the page it leads
    to and the audit events recorded since `since`: the same reading for every door."""
    user = person.user
    events = list(AuditEvent.objects.filter(pk__gt=since).order_by("pk"))
    sign_ins = [event for event in events if event.event == AuditEventType.SIGN_IN_SUCCEEDED]
    session_user = client.session.get(SESSION_KEY)
    if session_user is not None or sign_ins:
        if session_user != str(user.pk) or len(sign_ins) != 1 or sign_ins[0].target != user:
            return Unexplained(f"session of {session_user}, {len(sign_ins)} sign-in events")
        if client.get(DASHBOARD).status_code != 200:
            return Unexplained("signed in, yet the dashboard sends the browser elsewhere")
        return SignedIn(sign_ins[0].details["second_factor"])
    waits_at = _page_the_site_holds(client)
    if response.status_code == 302 and urlsplit(response.url).path in STEPS:
        step = urlsplit(response.url).path
        if waits_at != step:
            return Unexplained(f"sent to {step}, yet the site holds the browser at {waits_at}")
        return Stopped(step)
    way_in = str(IdentityProvider.objects.get(tenant=user.tenant).label)
    reasons = _refusal_reasons(events, way_in=way_in)
    if len(reasons) != 1:
        kinds = [AuditEventType(event.event).name for event in events]
        return Unexplained(f"answered {response.status_code}, events {kinds}")
    reason = reasons.pop()
    page = _answer_page(client, response)
    words = REFUSAL_WORDS.get(reason, way_in)
    password_set = any(
        event.event in {AuditEventType.PASSWORD_SET, AuditEventType.PASSWORD_RESET_COMPLETED}
        for event in events
    )
    if waits_at != LOGIN:
        return Unexplained(f"refused ({reason}), yet the site holds the browser at {waits_at}")
    return Refused(
        reason,
        told_why=page is not None and words in html.unescape(page),
        password_set=password_set,
    )


# --- the table


@pytest.fixture(scope="module")
def provider_server():
    """The suite's OpenID Connect provider, one for the whole table (its keys take a while)."""
    server = OidcProvider(redirect_uri=f"{ORIGIN}/sso/callback/").start()
    yield server
    server.stop()


@pytest.fixture
def site(settings):
    """Passkeys are made for SITE_URL's host (the software authenticator answers for it), and
    the provider on the loopback interface is allowed."""
    settings.SITE_URL = ORIGIN
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True


def arrange(policy: Policy, *, user: User, owner: User, provider: OidcProvider) -> tuple:
    """The person with their factors, their browser (remembered or new), then the policy:
    factors and the remembered browser come first, since the policy may forbid how they
    were added."""
    person = Person(user=user, authenticator=SoftAuthenticator(), provider=provider)
    if PASSKEY_HELD in policy.factors:
        registering = sign_in(Client(), user)
        assert passkey_register(registering, person.authenticator).status_code == 302
    if APP in policy.factors:
        TOTPDeviceFactory(user=user)
    if policy.remembered:
        browser = remembered_client(user)
        browser.post("/accounts/logout/")
    else:
        browser = Client()

    role = user.role
    role.require_mfa = policy.mfa_required
    role.require_phishing_resistant = policy.passkey_required
    role.save()
    tenant = user.tenant
    tenant.passwordless_sign_in = policy.passkey_alone
    tenant.save()
    if policy.new_password_required:
        person_password_change_require(person=user, actor=owner)
    domain_claim(tenant=tenant, domain="northwind.example")
    provider_set_up(
        tenant=tenant,
        owner=owner,
        oidc=provider,
        policy=IdentityProvider.Policy.OPTIONAL
        if policy.sso == OPTIONAL
        else IdentityProvider.Policy.REQUIRED,
        provider_mfa_accepted=policy.provider_mfa_accepted,
        break_glass=[owner, user] if policy.sso == BREAK_GLASS else [owner],
    )
    if policy.address is not None:
        access_list_entry_save(
            entry=AccessListEntry(tenant=tenant, network=OFFICE, label="Office"),
            roles=[],
            actor=None,
        )
        access_list_switch(tenant=tenant, enabled=True, actor=None)
        browser.defaults["REMOTE_ADDR"] = policy.address
    user.refresh_from_db()
    return person, browser


CASES = [
    pytest.param(policy, door, id=f"{policy.id}/{door.name}")
    for policy in POLICIES
    for door in DOORS
    if door.needs <= policy.factors
]


@pytest.mark.parametrize(("policy", "door"), CASES)
def test_every_door_gives_the_policys_outcome(
    policy, door, site, clock, technician, owner, provider_server
):
    person, browser = arrange(policy, user=technician, owner=owner, provider=provider_server)
    since = AuditEvent.objects.order_by("pk").values_list("pk", flat=True).last() or 0

    response = door.drive(browser, person)

    seen = outcome_seen(browser, person, response, since)
    expected = expected_outcome(policy, door)
    assert seen == expected, f"{door.name} under {policy.id}: {seen}, the policy says {expected}"


def test_a_remembered_browser_is_no_way_in_without_the_password(clock, user_with_totp):
    """The table's remembered browsers all bring a credential; alone, or with a wrong
    password, one lets nobody in and starts no sign-in."""
    browser = remembered_client(user_with_totp)
    browser.post("/accounts/logout/")

    assert urlsplit(browser.get(DASHBOARD).url).path == LOGIN
    assert sign_in_attempt(browser, user_with_totp.email, WRONG_PASSWORD).status_code == 200
    assert SESSION_KEY not in browser.session
    assert _page_the_site_holds(browser) == LOGIN
