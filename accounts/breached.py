"""Breached passwords: the range API client, and what acts on its answers.

New passwords are compared with those seen in breaches (NIST SP 800-63B §3.1.1.2) through a
Pwned Passwords range API (`BREACHED_PASSWORDS_URL`, empty: off) with k-anonymity: only the
first five hex characters of the password's SHA-1 leave this machine. The API answers every
suffix it knows under that prefix as `SUFFIX:COUNT` lines; asked with `Add-Padding: true` it
adds entries of count 0 so that the size of the answer says nothing either. The comparison
happens here.

When the service can't answer within BREACHED_PASSWORDS_TIMEOUT, the password is accepted
(nobody is kept from choosing a password by somebody else's outage), the event is audited, and
a `BreachedPasswordCheck` row keeps the prefix and an HMAC of the SHA-1 for the beat task
(`accounts.tasks.recheck_breached_passwords`), which asks again later and, if the password
turns out breached, sends the person to choose a new one at their next sign-in.

Tenants may also have current passwords checked at sign-in, at most once a day per person
(`Tenant.breached_password_check_at_sign_in`): the only moment the password is in clear.
"""

import hashlib
import http.client
import logging
import string
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.debug import sensitive_variables

from accounts.models import BreachedPasswordCheck, User
from audit.events import AuditEventType
from audit.services import audit_event_record
from outbox.links import site_link
from outbox.services import mail_enqueue
from teams.selectors import unlock_contact_for_tenant

logger = logging.getLogger(__name__)

PREFIX_LENGTH = 5
SUFFIX_LENGTH = 35
# A padded answer is about 800-1,000 lines of 40 bytes; anything far larger is not the API.
MAX_ANSWER_BYTES = 1024 * 1024
DIGEST_SALT = "accounts.breached.pending-check"
SIGN_IN_CHECK_INTERVAL = timedelta(days=1)
MAIL_KIND = "password_breached"
GUIDE_SLUG = "passwords"
HEX_DIGITS = frozenset(string.hexdigits.upper())


class BreachedPasswordsUnavailable(Exception):
    """The range API gave no usable answer. `reason` says how, with no password material:
    "timeout", "unreachable", "status 503", "malformed"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class UncheckedPassword:
    """What may be kept of a password the service could not be asked about."""

    prefix: str
    digest: str
    reason: str


def check_enabled() -> bool:
    return bool(settings.BREACHED_PASSWORDS_URL)


def guide_link() -> str:
    """The help center's guide to password managers (a page of the support app, found by its
    address: support sits above accounts)."""
    return reverse("support:guide", kwargs={"slug": GUIDE_SLUG})


@sensitive_variables("password")
def password_sha1(password: str) -> str:
    return hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def sha1_digest(sha1: str, *, secret: str | None = None) -> str:
    """The HMAC of a whole SHA-1 kept for a later check, keyed from SECRET_KEY: unlike the SHA-1
    itself, it can't be looked up in a breach list or used to test guesses without the key."""
    return salted_hmac(DIGEST_SALT, sha1.upper(), secret=secret, algorithm="sha256").hexdigest()


def unchecked_password(sha1: str, reason: str) -> UncheckedPassword:
    return UncheckedPassword(prefix=sha1[:PREFIX_LENGTH], digest=sha1_digest(sha1), reason=reason)


def _parse_range(body: bytes) -> frozenset[str]:
    """The suffixes of an answer with a count above zero; padding entries (count 0) are not
    breached passwords. A padded answer is never empty, so an empty one is malformed too."""
    try:
        lines = body.decode("ascii").split()
    except UnicodeDecodeError as error:
        raise BreachedPasswordsUnavailable("malformed") from error
    if not lines:
        raise BreachedPasswordsUnavailable("malformed")
    found = set()
    for line in lines:
        suffix, _, count = line.partition(":")
        suffix = suffix.upper()
        if len(suffix) != SUFFIX_LENGTH or not set(suffix) <= HEX_DIGITS or not count.isdigit():
            raise BreachedPasswordsUnavailable("malformed")
        if int(count) > 0:
            found.add(suffix)
    return frozenset(found)


def _read_before(response, deadline: float) -> bytes:
    """The whole answer, unless it takes past `deadline`: a socket timeout bounds each read,
    not a server that trickles a byte at a time."""
    chunks, size = [], 0
    while chunk := response.read(16 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise BreachedPasswordsUnavailable("malformed")
        if time.monotonic() > deadline:
            raise BreachedPasswordsUnavailable("timeout")
        chunks.append(chunk)
    return b"".join(chunks)


def range_suffixes(prefix: str) -> frozenset[str]:
    """Ask the range API about one five-character prefix; the breached suffixes under it."""
    base = settings.BREACHED_PASSWORDS_URL
    # settings refuses any scheme but http(s) for BREACHED_PASSWORDS_URL.
    request = urllib.request.Request(  # noqa: S310
        f"{base}{'' if base.endswith('/') else '/'}{prefix.upper()}",
        headers={"Add-Padding": "true", "User-Agent": "Portcullis"},
    )
    timeout = settings.BREACHED_PASSWORDS_TIMEOUT
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            if response.status != 200:
                raise BreachedPasswordsUnavailable(f"status {response.status}")
            body = _read_before(response, deadline)
    except urllib.error.HTTPError as error:
        raise BreachedPasswordsUnavailable(f"status {error.code}") from error
    except urllib.error.URLError as error:
        timed_out = isinstance(error.reason, TimeoutError)
        raise BreachedPasswordsUnavailable("timeout" if timed_out else "unreachable") from error
    except TimeoutError as error:
        raise BreachedPasswordsUnavailable("timeout") from error
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise BreachedPasswordsUnavailable("unreachable") from error
    return _parse_range(body)


def sha1_is_breached(sha1: str) -> bool:
    """Whether a SHA-1 is among breached passwords; raises BreachedPasswordsUnavailable."""
    return sha1[PREFIX_LENGTH:] in range_suffixes(sha1[:PREFIX_LENGTH])


def digest_among(*, prefix: str, digest: str, suffixes: frozenset[str]) -> bool:
    """Whether a kept HMAC is one of the answered hashes', under SECRET_KEY or a fallback key
    (a rotated SECRET_KEY still recognises the rows kept before)."""
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(
        constant_time_compare(sha1_digest(f"{prefix}{suffix}", secret=secret), digest)
        for suffix in suffixes
        for secret in secrets
    )


def breached_check_unavailable_record(
    *,
    user: User,
    unchecked: UncheckedPassword,
    at: str,
    request: HttpRequest | None = None,
) -> BreachedPasswordCheck:
    """Keep what the beat task needs to check the person's current password later, and audit
    that it could not be checked now (`at`: "password_set" or "sign_in")."""
    with transaction.atomic():
        check, _ = BreachedPasswordCheck.objects.update_or_create(
            user=user,
            defaults={
                "prefix": unchecked.prefix,
                "digest": unchecked.digest,
                "created_at": timezone.now(),
            },
        )
        audit_event_record(
            event=AuditEventType.BREACHED_CHECK_UNAVAILABLE,
            actor=None,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"at": at, "reason": unchecked.reason},
        )
    return check


def password_set_recorded(*, user: User, unchecked: UncheckedPassword | None) -> None:
    """A new password was saved (called by the validator's `password_changed`): the previous
    password's pending check means nothing now; if the new one could not be checked, keep it
    for the beat task."""
    with transaction.atomic():
        BreachedPasswordCheck.objects.filter(user=user).delete()
        if unchecked is not None:
            breached_check_unavailable_record(user=user, unchecked=unchecked, at="password_set")


def password_breached_flag(*, user: User, found: str, request: HttpRequest | None = None) -> None:
    """The person's current password is among breached ones (`found`: "recheck" or
    "sign_in"): they choose a new one as the last step of their next sign-in (reason
    "breached") and are told by mail, with who to ask if they did not just sign in."""
    now = timezone.now()
    with transaction.atomic():
        user.password_change_required = True
        user.password_breached_at = now
        user.save(update_fields=["password_change_required", "password_breached_at"])
        audit_event_record(
            event=AuditEventType.PASSWORD_FOUND_BREACHED,
            actor=None,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"found": found},
        )
        mail_enqueue(
            to=user.email,
            kind=MAIL_KIND,
            context={
                "person": user,
                "found": found,
                "when": now,
                "guide": site_link("support:guide", slug=GUIDE_SLUG),
                "contact": unlock_contact_for_tenant(tenant=user.tenant, exclude=user),
            },
        )


def breached_checks_due_ids() -> list[int]:
    return list(BreachedPasswordCheck.objects.values_list("pk", flat=True)[:500])


def breached_check_run(*, check_id: int) -> str | None:
    """Ask again about a password that could not be checked when it was set. Returns
    "breached", "clean", "unavailable" (the row stays for the next run), or None when the row
    is gone (the person chose another password meanwhile).

    The service is asked outside any transaction; the row is then deleted only if it still
    holds the same digest, so a password changed during the request is never flagged.
    """
    check = BreachedPasswordCheck.objects.filter(pk=check_id).first()
    if check is None:
        return None
    try:
        suffixes = range_suffixes(check.prefix)
    except BreachedPasswordsUnavailable as error:
        logger.info("Breached-password recheck %s postponed: %s", check.pk, error.reason)
        return "unavailable"
    breached = digest_among(prefix=check.prefix, digest=check.digest, suffixes=suffixes)
    with transaction.atomic():
        deleted, _ = BreachedPasswordCheck.objects.filter(pk=check.pk, digest=check.digest).delete()
        if not deleted:
            return None
        if breached:
            user = (
                User.objects.select_for_update(of=("self",))
                .select_related("tenant")
                .get(pk=check.user_id)
            )
            password_breached_flag(user=user, found="recheck")
    return "breached" if breached else "clean"


@sensitive_variables("password")
def breached_password_sign_in_check(*, request: HttpRequest, user: User, password: str) -> None:
    """At sign-in, the right password in hand: check it if the person's tenant asks, at most
    once a day per person. A breached one makes the new-password step due (after any second
    factor). An unreachable service never holds the sign-in up: the password is kept for the
    beat task and the day's check counts as done, so a dead service slows no further sign-ins.
    """
    tenant = user.tenant
    if tenant is None or not tenant.breached_password_check_at_sign_in or not check_enabled():
        return
    now = timezone.now()
    checked_at = user.breached_password_checked_at
    if user.password_breached_at is not None or (
        checked_at is not None and now - checked_at < SIGN_IN_CHECK_INTERVAL
    ):
        return
    sha1 = password_sha1(password)
    try:
        breached = sha1_is_breached(sha1)
    except BreachedPasswordsUnavailable as error:
        breached, unchecked = False, unchecked_password(sha1, error.reason)
    else:
        unchecked = None
    with transaction.atomic():
        user.breached_password_checked_at = now
        user.save(update_fields=["breached_password_checked_at"])
        if unchecked is not None:
            breached_check_unavailable_record(
                user=user, unchecked=unchecked, at="sign_in", request=request
            )
        elif breached:
            password_breached_flag(user=user, found="sign_in", request=request)
