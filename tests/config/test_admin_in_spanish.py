"""Every admin page in Spanish: no English left.

Each page of the admin (the index, each app's index, every registered model's list, add and
change pages, each action's confirmation page and the message an action leaves) is rendered twice,
for a browser asking for English and one asking for Spanish, as a tenant's Owner and as an
operator. A piece of visible text (a text node, or a title, placeholder, label or button
value) fails when, in the Spanish page:

- it is a msgid of the Spanish catalogue whose translation differs: the string is in the
  catalogue but was shown without being translated (marked with `gettext_noop`, or built by
  hand from a translated word); or
- it is the same in both languages and reads as English prose (a word of three letters or more
  that is not data the test made: a name, an email, a network). That is a string nobody marked
  for translation, which makemessages can't see; or
- it holds an English word no Spanish sentence has ("the", "and", "your"...): a message built
  with a number or a name, which differs between the two renders, is caught this way.
"""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.admin import helpers
from django.test import Client
from django.utils import timezone
from django.utils.translation import trans_real

from accounts.models import User
from audit.webhooks import audit_webhook_set
from sso.models import IdentityProvider
from sso.services import domain_claim, provider_save
from support.models import RecoveryRequest
from teams.models import AccessListEntry, AccessListException, Tenant
from teams.services.access_list import access_list_entry_save, access_list_exception_save
from teams.services.roles import role_create
from tests.factories import OperatorFactory, TOTPDeviceFactory, UserFactory
from tests.signing_in import fail_sign_in, sign_in

# What the test itself names (people, tenants, networks, addresses), and words that are the same
# in both languages: shown as they are in a Spanish page too.
SAME_IN_BOTH = {
    "Portcullis",
    "Northwind",
    "Tess Tech",
    "Ada App",
    "Helpdesk",
    "Root Operator",
    "Email",
    "OIDC",
    "Microsoft Entra ID",
    "Google Workspace",
    "URL",
    "IP",
    "TOTP",
    "Webhooks",
    "Webhook",
    "Hash",
    "Slug",
    "Roles",
    "roles",
    "Nuevo teléfono",
}
# django-axes names a lock counter "Attempted Access: <time>" (its model's __str__, no gettext).
LIBRARY_TEXT = re.compile(r"^(› )?Attempted Access: ")
# Text that is data, whatever words it holds: addresses, networks, times, user agents, hashes.
DATA = re.compile(
    r"[\w.+-]+@[\w.-]+|https?://\S+|\b\d{1,3}(\.\d{1,3}){3}(/\d+)?\b|\b[0-9a-f]{12,}\b"
    r"|Mozilla/\S+|python-requests|Django/\S+|[\w-]+\.example\b|^\{.*\}$|/[\w/-]+/|\b[a-z]+:[a-z]+\b"
)
ENGLISH_ONLY = re.compile(
    r"\b(the|and|of|your|their|people|with|this|that|these|were|was|been|from|for|not|are|is)\b",
    re.IGNORECASE,
)
VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
HIDDEN_TAGS = {"script", "style", "template", "noscript"}


class VisibleText(HTMLParser):
    """Text a person sees or hears: text nodes outside scripts, the attributes above and the
    value of a button-like input."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in HIDDEN_TAGS:
            self.hidden_depth += 1
        attributes = dict(attrs)
        for name in VISIBLE_ATTRIBUTES & attributes.keys():
            self.add(attributes[name])
        if tag == "input" and attributes.get("type") in {"submit", "button", "reset"}:
            self.add(attributes.get("value"))

    def handle_endtag(self, tag):
        if tag in HIDDEN_TAGS and self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data):
        if not self.hidden_depth:
            self.add(data)

    def add(self, text: str | None) -> None:
        text = " ".join((text or "").split())
        if text:
            self.texts.append(text)


def visible_texts(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.texts


def without_data(text: str, known_words: list[str]) -> str:
    rest = DATA.sub(" ", text)
    for known in known_words:
        rest = rest.replace(known, " ")
    return rest


def known_words() -> list[str]:
    """What is the same in both languages: the words above, the names the factories made up,
    the tenants' names and short ids. Longest first: "Ada App" goes whole before "Ada" (a first
    name) could leave "App" behind."""
    people = User.objects.exclude(full_name="").values_list("full_name", flat=True)
    first_names = {name.split()[0] for name in people}
    tenants = Tenant.objects.values_list("name", "slug")
    made_up = {*people, *first_names, *(value for pair in tenants for value in pair)}
    return sorted(SAME_IN_BOTH | made_up, key=len, reverse=True)


def reads_as_english(text: str, known: list[str]) -> bool:
    return bool(re.search(r"[A-Za-z]{3,}", without_data(text, known)))


def spanish_catalogue() -> dict:
    """msgid → msgstr of every catalogue the Spanish site loads (the project's and Django's)."""
    return {
        msgid: msgstr
        for msgid, msgstr in trans_real.translation("es")._catalog.items()
        if isinstance(msgid, str) and msgid and msgstr and msgstr != msgid
    }


def untranslated(english: str, spanish: str, catalogue: dict, known: list[str]) -> list[str]:
    english_texts = set(visible_texts(english))
    found = []
    for text in visible_texts(spanish):
        if LIBRARY_TEXT.match(text):
            continue
        if (
            text in catalogue
            or (text in english_texts and reads_as_english(text, known))
            or ENGLISH_ONLY.search(without_data(text, known))
        ):
            found.append(text)
    return sorted(set(found))


@pytest.fixture
def world(tenant, owner, technician, settings):
    """One tenant with a row of every model the admin lists, and an operator."""
    helpdesk = role_create(
        tenant=tenant,
        actor=owner,
        values={"require_mfa": False, "name": "Helpdesk", "scopes": ["audit:read"]},
    )
    with_app = UserFactory(tenant=tenant, email="app@northwind.example", full_name="Ada App")
    TOTPDeviceFactory(user=with_app)
    invited = UserFactory(tenant=tenant, email="new@northwind.example", full_name="Nia New")
    invited.set_unusable_password()
    invited.save()
    fail_sign_in(Client(), technician.email, REMOTE_ADDR="198.51.100.7")
    RecoveryRequest.objects.create(
        tenant=tenant,
        person=technician,
        reason=RecoveryRequest.Reason.LOCKED_OUT,
        note="Nuevo teléfono",
        ip="198.51.100.7",
    )
    access_list_entry_save(
        entry=AccessListEntry(tenant=tenant, network="198.51.100.0/24", label="Northwind"),
        roles=[helpdesk],
        actor=owner,
    )
    access_list_exception_save(
        exception=AccessListException(
            tenant=tenant,
            user=technician,
            expires_at=timezone.now() + timedelta(days=3),
            reason="Northwind",
        ),
        actor=owner,
    )
    settings.AUDIT_WEBHOOK_ALLOW_LOCAL = True
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    audit_webhook_set(actor=owner, tenant=tenant, url="https://hooks.northwind.example/audit")
    provider_save(
        provider=IdentityProvider(
            tenant=tenant,
            kind=IdentityProvider.Kind.OIDC,
            discovery_url="https://idp.northwind.example/.well-known/openid-configuration",
            client_id="northwind-client",
        ),
        client_secret="northwind-client-secret",
        break_glass=[owner],
        actor=owner,
    )
    domain_claim(tenant=tenant, domain="northwind.example")
    sign_in(Client(), technician, REMOTE_ADDR="198.51.100.7")
    operator = OperatorFactory(email="root@platform.example", full_name="Root Operator")
    return {"owner": owner, "operator": operator, "technician": technician}


def page_pairs(english: Client, spanish: Client) -> list[tuple[str, str, str]]:
    """Every admin page this viewer can open, in both languages: indexes, and each model's list,
    add and change page (the change page of the first row listed)."""
    pairs = []

    def both(url: str):
        shown = english.get(url)
        if shown.status_code == 200:
            pairs.append((url, shown.content.decode(), spanish.get(url).content.decode()))
        return shown

    both("/admin/")
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        listed = both(base)
        if listed.status_code != 200:
            continue
        if f"/admin/{model._meta.app_label}/" not in {url for url, *_ in pairs}:
            both(f"/admin/{model._meta.app_label}/")
        both(f"{base}add/")
        first = model_admin.get_queryset(listed.wsgi_request).order_by("pk").first()
        if first is not None:
            both(f"{base}{first.pk}/change/")
    return pairs


def action_pages(english: Client, spanish: Client, target) -> list[tuple[str, str, str]]:
    """Each action of every list, run on one row (`target` in the people lists): its
    confirmation page, or the list it returns to with its message."""
    rendered = []
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        listed = english.get(base)
        if not model_admin.actions or listed.status_code != 200:
            continue
        request = listed.wsgi_request
        rows = model_admin.get_queryset(request).order_by("pk")
        # The people lists act on the target; other lists on their oldest row, which is the
        # world's (never the viewer's own session, which would sign the test out).
        row = rows.filter(pk=target.pk).first() if issubclass(model, User) else rows.first()
        if row is None:
            continue
        for action in model_admin.get_actions(request):
            post = {"action": action, "index": 0, helpers.ACTION_CHECKBOX_NAME: [str(row.pk)]}
            # Spanish first: the English run then meets the row the action already changed.
            spanish_page = spanish.post(base, post, follow=True).content.decode()
            english_page = english.post(base, post, follow=True).content.decode()
            rendered.append((f"{base} {action}", english_page, spanish_page))
    return rendered


@pytest.mark.parametrize("viewer", ["owner", "operator"])
def test_every_admin_page_is_in_spanish(world, viewer):
    person = world[viewer]
    english = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), person)
    spanish = sign_in(Client(HTTP_ACCEPT_LANGUAGE="es"), person)
    catalogue = spanish_catalogue()
    known = known_words()
    problems = []

    for page, english_page, spanish_page in page_pairs(english, spanish):
        assert '<html lang="es"' in spanish_page, page
        for text in untranslated(english_page, spanish_page, catalogue, known):
            problems.append(f"{page}: {text!r}")
    for where, english_page, spanish_page in action_pages(english, spanish, world["technician"]):
        for text in untranslated(english_page, spanish_page, catalogue, known):
            problems.append(f"{where}: {text!r}")

    assert not problems, f"{len(problems)} untranslated:\n" + "\n".join(problems)
