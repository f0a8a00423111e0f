"""Password validators for AUTH_PASSWORD_VALIDATORS: common passwords, context words, the
tenant's history, and breached passwords."""

import logging
import re
import threading
from pathlib import Path

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, is_password_usable
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts import breached

logger = logging.getLogger(__name__)

SITE_WORDS = ("portcullis",)
MIN_CONTEXT_WORD_LENGTH = 4

# Made by tools/common_passwords.py; where it comes from and what it holds: docs/credentials.md.
COMMON_PASSWORDS_PATH = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
# Digits, symbols and spaces around a common password: `letmein12345`, `Summer2024!!`.
COMMON_PASSWORD_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")
# At most this many of them: a common word inside a long random run of digits is no guess.
MAX_DECORATION_LENGTH = 6


class CommonPasswordValidator(password_validation.CommonPasswordValidator):
    """Refuse the most common passwords, checked offline against the bundled list, and one of
    them with a few digits or symbols added before or after it.

    Django's own list holds only 187 passwords of 12 characters or more, so `iloveyou1234`
    passed; and a common word with a year or `123!` on the end is the first thing an attacker's
    rules try. Lists take the place of composition rules, which the site doesn't have.
    """

    def __init__(self, password_list_path: Path = COMMON_PASSWORDS_PATH) -> None:
        super().__init__(password_list_path)

    def validate(self, password: str, user=None) -> None:
        super().validate(password, user)
        typed = password.lower().strip()
        core = COMMON_PASSWORD_DECORATION.sub("", typed)
        decorated = core != typed and len(typed) - len(core) <= MAX_DECORATION_LENGTH
        if core and decorated and core in self.passwords:
            raise ValidationError(
                _(
                    "This password is a common password with a few digits or symbols added, "
                    "which attackers try early."
                ),
                code="password_too_common",
            )

    def get_help_text(self) -> str:
        return _(
            "Your password can't be a commonly used password, nor one with a few digits or "
            "symbols added."
        )


def _tenant_words(user) -> list[str]:
    tenant = getattr(user, "tenant", None) if user is not None else None
    if tenant is None:
        return []
    words = [word for word in re.split(r"[\W_]+", tenant.name.lower()) if word]
    return [*words, "".join(words), tenant.slug.replace("-", "")]


class ContextWordsValidator:
    """Refuse passwords that contain the person's MSP name or the site's name.

    They are the first words an attacker tries against an MSP's people. The person's own email
    and name are `PersonalWordsValidator`'s job.
    """

    def validate(self, password: str, user=None) -> None:
        typed = re.sub(r"[\W_]+", "", password.lower())
        for word in (*_tenant_words(user), *SITE_WORDS):
            if len(word) >= MIN_CONTEXT_WORD_LENGTH and word in typed:
                raise ValidationError(
                    _(
                        "Your password can't contain “%(word)s”: names of your MSP and of this "
                        "site are among the first words an attacker tries."
                    ),
                    code="password_has_context_word",
                    params={"word": word},
                )

    def get_help_text(self) -> str:
        return "Your password can't contain your MSP's name or the name of this site."


def _personal_words(user) -> list[tuple[str, str]]:
    """(word, where it comes from) for the person's email local part and name: each part of
    four or more letters or digits, and the whole of each, separators dropped."""
    if user is None:
        return []
    email = getattr(user, "email", "") or ""
    sources = [(email.rpartition("@")[0] if "@" in email else email, "your email address")]
    sources.append((getattr(user, "full_name", "") or "", "your name"))
    words = []
    for text, source in sources:
        parts = [part for part in re.split(r"[\W_]+", text.lower()) if part]
        words += [(word, source) for word in (*parts, "".join(parts))]
    return [(word, source) for word, source in words if len(word) >= MIN_CONTEXT_WORD_LENGTH]


class PersonalWordsValidator:
    """Refuse passwords that contain the person's email local part or name, or a part of them.

    Django's UserAttributeSimilarityValidator only compares the whole password with the whole
    attribute, so `jsmith12345678` passes it for `jsmith@…`; an attacker tries exactly that.
    Case and separators don't matter: `J.Smith-2024!` contains `jsmith` too.
    """

    def validate(self, password: str, user=None) -> None:
        typed = re.sub(r"[\W_]+", "", password.lower())
        for word, source in _personal_words(user):
            if word in typed:
                raise ValidationError(
                    _(
                        "Your password can't contain “%(word)s”: it is part of %(source)s, among "
                        "the first things an attacker tries."
                    ),
                    code="password_has_personal_word",
                    params={"word": word, "source": source},
                )

    def get_help_text(self) -> str:
        return "Your password can't contain your email address, your name, or a part of them."


def history_count(user) -> int:
    tenant = getattr(user, "tenant", None) if user is not None else None
    return tenant.password_history_count if tenant is not None else 0


class PasswordHistoryValidator:
    """Refuse the person's last N passwords, N being their tenant's `password_history_count`.

    `password_changed` (called by Django when a user with a new password is saved) keeps the
    hashes: only while the tenant keeps a history, and only the last N.
    """

    def validate(self, password: str, user=None) -> None:
        count = history_count(user)
        if not count or user.pk is None:
            return
        hashes = list(user.password_history.values_list("password", flat=True)[:count])
        if is_password_usable(user.password) and user.password not in hashes:
            hashes = [user.password, *hashes][:count]
        if any(check_password(password, encoded) for encoded in hashes):
            raise ValidationError(
                _(
                    "You have used this password recently. Your MSP asks for one that isn't among "
                    "your last %(count)d."
                ),
                code="password_reused",
                params={"count": count},
            )

    def password_changed(self, password: str, user=None) -> None:
        from accounts.models import PasswordHistory

        count = history_count(user)
        if count:
            PasswordHistory.objects.create(user=user, password=user.password)
        keep = user.password_history.values_list("pk", flat=True)[:count]
        user.password_history.exclude(pk__in=list(keep)).delete()

    def get_help_text(self) -> str:
        return "If your MSP keeps a password history, you can't reuse a recent password."


# What `BreachedPasswordValidator.validate` could not check, for its `password_changed` in the
# same thread: Django calls one validator instance for every request, and the password is only
# set (and the row kept) once every validator and the form have accepted it.
_unchecked = threading.local()


class BreachedPasswordValidator:
    """Refuse passwords seen in data breaches, asking the range API with k-anonymity
    (accounts/breached.py). Off while BREACHED_PASSWORDS_URL is empty.

    Attackers try breached passwords first, against every site (NIST SP 800-63B §3.1.1.2). When
    the service can't answer, the password is accepted; once it is saved, `password_changed`
    keeps it (prefix and HMAC only) for the beat task to check later and audits that.
    """

    def validate(self, password: str, user=None) -> None:
        _unchecked.password = None
        if not breached.check_enabled():
            return
        sha1 = breached.password_sha1(password)
        try:
            found = breached.sha1_is_breached(sha1)
        except breached.BreachedPasswordsUnavailable as error:
            logger.warning("Breached-password check not made (%s); password accepted", error.reason)
            _unchecked.password = breached.unchecked_password(sha1, error.reason)
            return
        if found:
            raise ValidationError(
                format_html(
                    "This password has appeared in a data breach, so attackers try it first. "
                    'Choose another one: <a href="{}">a password manager</a> can make and '
                    "remember a strong one for you.",
                    breached.guide_link(),
                ),
                code="password_breached",
            )

    def password_changed(self, password: str, user=None) -> None:
        unchecked = getattr(_unchecked, "password", None)
        _unchecked.password = None
        if unchecked is not None:
            digest = breached.sha1_digest(breached.password_sha1(password))
            unchecked = unchecked if constant_time_compare(unchecked.digest, digest) else None
        breached.password_set_recorded(user=user, unchecked=unchecked)

    def get_help_text(self) -> str:
        return "Your password can't be one that has appeared in a data breach."
