import unicodedata

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from teams.models import Role, Tenant, TenantQuerySet, refuse_control_characters_in_name


def normalize_email(email: str) -> str:
    """Emails are compared as typed by people: surrounding spaces and letter case don't matter."""
    return (email or "").strip().lower()


def refuse_control_characters(email: str) -> None:
    """Django's email validator allows control characters inside a quoted local part. In an
    account email they only serve to forge log lines, and they would make the stored email differ
    from its lockout counter key (`accounts.lockout_counters.email_key`), which the access review
    uses."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in email):
        raise ValidationError(
            _("An email address can't contain control characters."), code="control_characters"
        )


# Scripts that may share a domain, after Unicode's "highly restrictive" profile (UTS #39 §5.2):
# one script, or Latin with the scripts written together in Japanese, Chinese or Korean.
SCRIPTS_WRITTEN_TOGETHER = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def _script_of(character: str) -> str:
    """The script of a letter, read from its Unicode name (Python has no script property):
    "CYRILLIC SMALL LETTER IE" is Cyrillic, "CJK UNIFIED IDEOGRAPH-4E2D" is Han."""
    first_word = unicodedata.name(character, "UNKNOWN").split(" ")[0]
    return "HAN" if first_word in {"CJK", "IDEOGRAPHIC"} else first_word


def domain_scripts_mix(domain: str) -> bool:
    """Does this domain mix scripts that aren't written together?

    A Cyrillic "е" among Latin letters gives an address that looks exactly like another; so
    does a whole Cyrillic label under a Latin top-level domain. Digits, hyphens and dots belong
    to every script; combining marks take their letter's script."""
    scripts = {
        _script_of(character) for character in domain if unicodedata.category(character)[0] == "L"
    }
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in SCRIPTS_WRITTEN_TOGETHER)


def domain_as_shown(domain: str) -> str:
    """The domain as a mail client shows it: each IDNA label (`xn--…`) decoded to its Unicode
    form, so a look-alike typed in its ASCII form is checked like the Unicode one it displays
    as. A label that isn't the Punycode of a non-ASCII name (one that doesn't decode, or that
    decodes to plain ASCII or to another spelling of itself) is refused."""
    labels = []
    for label in domain.split("."):
        if label.lower().startswith("xn--"):
            encoded = label[4:].lower()
            try:
                label = encoded.encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                label = ""
            if label.isascii() or label.encode("punycode").decode("ascii") != encoded:
                raise ValidationError(
                    _("This email's domain isn't a valid international domain name."),
                    code="domain_invalid_idna",
                )
        labels.append(label)
    return ".".join(labels)


def refuse_deceptive_email(email: str) -> None:
    """Refuse the forms of address that make one account look like another, or mail go
    somewhere else than it seems.

    A quoted local part (`"tech1"@demo.example`) is a different account from `tech1@...` but
    many mail systems strip the quotes and deliver to the same mailbox. A domain literal
    (`svc@[10.0.0.5]`) names a server by address, bypassing the domain's own mail routing.
    A domain that mixes scripts, or holds compatibility forms (fullwidth letters) or invisible
    characters, shows as a familiar name while being another one.
    """
    local, _at, domain = email.rpartition("@")
    if local.startswith('"'):
        raise ValidationError(
            _("Quoted email addresses aren't accepted: type the address without quotes."),
            code="quoted_local_part",
        )
    if domain.startswith("["):
        raise ValidationError(
            _("An email address must end in a domain name, not an IP address in brackets."),
            code="domain_literal",
        )
    domain = domain_as_shown(domain)
    if unicodedata.normalize("NFKC", domain) != domain or any(
        unicodedata.category(character) == "Cf" for character in domain
    ):
        raise ValidationError(
            _("This email's domain holds look-alike or invisible characters."),
            code="domain_lookalike",
        )
    if domain_scripts_mix(domain):
        raise ValidationError(
            _(
                "This email's domain mixes alphabets (for example a Cyrillic letter among Latin "
                "ones), so it could pass for another address."
            ),
            code="domain_mixed_scripts",
        )


# Names that never reach a mailbox on the internet: special-use and private-use names
# (RFC 6761, RFC 6762's .local, RFC 8375's home.arpa, RFC 9476's .alt, the .internal ICANN
# set aside for private networks) and RFC 2606's .invalid.
RESERVED_DOMAIN_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "invalid",
    "home.arpa",
    "alt",
    "onion",
)
# RFC 2606's names for testing and documentation: only with EMAIL_ALLOW_TEST_DOMAINS on.
TEST_DOMAIN_SUFFIXES = ("test", "example")


def _under(domain: str, suffixes: tuple[str, ...]) -> bool:
    return any(domain == suffix or domain.endswith(f".{suffix}") for suffix in suffixes)


def refuse_unroutable_domain(email: str) -> None:
    """Refuse a domain mail can't be delivered to on the internet: one without a dot (a host
    on the sender's own network, such as `localhost`), or a reserved or local name. Mail to
    them goes to whatever the sending server's network calls that name, or nowhere.

    The names kept for testing and documentation (`.test`, `.example`) pass only with the
    EMAIL_ALLOW_TEST_DOMAINS setting on, for test suites and demos."""
    domain = email.rpartition("@")[2].lower()
    if "." not in domain.strip("."):
        raise ValidationError(
            _("An email address must end in a full domain name, like example.com."),
            code="domain_without_dot",
        )
    reserved = RESERVED_DOMAIN_SUFFIXES
    if not settings.EMAIL_ALLOW_TEST_DOMAINS:
        reserved += TEST_DOMAIN_SUFFIXES
    if _under(domain.rstrip("."), reserved):
        raise ValidationError(
            _("Mail can't be delivered to %(domain)s: it is a reserved or local name."),
            code="domain_reserved",
            params={"domain": domain},
        )


# Every address a person signs in with passes these, whichever way it comes in (forms, the
# admin, commands, single sign-on).
EMAIL_VALIDATORS = [refuse_control_characters, refuse_deceptive_email, refuse_unroutable_domain]


class UserQuerySet(TenantQuerySet):
    pass


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def get_by_natural_key(self, email: str) -> "User":
        return self.get(email=normalize_email(email))

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True, tenant=None, role=None)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in by email: a technician of one tenant, or a platform operator.

    Operators are superusers with no tenant; everybody else belongs to exactly one tenant and
    holds one of its roles.
    """

    email = models.EmailField(
        _("email address"),
        max_length=254,
        unique=True,
        validators=EMAIL_VALIDATORS,
    )
    full_name = models.CharField(max_length=150, blank=True, verbose_name=_("full name"))
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="people",
        verbose_name=_("tenant"),
    )
    role = models.ForeignKey(
        Role,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="people",
        verbose_name=_("role"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    is_staff = models.BooleanField(
        default=False,
        help_text=_("Platform operators only: may use the admin across tenants."),
        verbose_name=_("is staff"),
    )
    date_joined = models.DateTimeField(default=timezone.now, verbose_name=_("date joined"))
    password_changed_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("password changed at")
    )
    deactivated_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "When the person was last deactivated: set-password links made before it stay dead "
            "after a reactivation."
        ),
        verbose_name=_("deactivated at"),
    )
    invitation_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "When the latest invitation's set-password link was mailed: it lapses "
            "INVITATION_TIMEOUT later, and sending the invitation again voids the links before it."
        ),
        verbose_name=_("invitation sent at"),
    )
    password_change_required = models.BooleanField(
        default=False,
        help_text=_("Send the person to choose a new password right after their next sign-in."),
        verbose_name=_("password change required"),
    )
    password_breached_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "When the current password was found among breached ones (accounts/breached.py)."
        ),
        verbose_name=_("password breached at"),
    )
    breached_password_checked_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("When the password was last checked against breached ones at sign-in."),
        verbose_name=_("breached password checked at"),
    )

    # Secrets, hashes and tokens: the admin refuses to filter, sort or link by them (teams.sites).
    secret_fields = frozenset({"password"})

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="user_email_stored_lowercase"
            ),
            models.CheckConstraint(
                condition=models.Q(tenant__isnull=True, role__isnull=True)
                | models.Q(tenant__isnull=False, role__isnull=False),
                name="user_tenant_and_role_together",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)
        try:
            refuse_control_characters_in_name(self.full_name)
        except ValidationError as error:
            raise ValidationError({"full_name": error}) from error
        if self.role_id and self.role.tenant_id != self.tenant_id:
            raise ValidationError(
                {"role": "The role must belong to the person's own tenant."}, code="foreign_role"
            )
        if not self.is_superuser and self.tenant_id is None:
            raise ValidationError(
                {"tenant": "Everybody but platform operators belongs to a tenant."},
                code="tenant_required",
            )

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        if raw_password is not None:
            self.password_changed_at = timezone.now()
            self.password_breached_at = None

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name()


class PasswordHistory(models.Model):
    """A hash of a password a person had, so a tenant's policy can refuse its reuse.

    Only kept while the person's tenant keeps a history (`Tenant.password_history_count`), and
    only that many.
    """

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="password_history", verbose_name=_("user")
    )
    password = models.CharField(max_length=128, verbose_name=_("password"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    # Secrets, hashes and tokens: the admin refuses to filter, sort or link by them (teams.sites).
    secret_fields = frozenset({"password"})

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="password_history_user")]
        verbose_name_plural = _("password history")

    def __str__(self) -> str:
        return f"{self.user} until {date_format(self.created_at, 'DATE_FORMAT')}"


class PasswordResetRequest(models.Model):
    """A reset asked for on the reset page, kept until a task has looked the email up.

    The page answers the same whether or not the email has an account, so the lookup, the
    token and the mail happen later, in `accounts.tasks`; this row makes that survive a broker
    outage (the sweep picks it up) and is what the per-IP limit counts.
    """

    email = models.CharField(max_length=254, verbose_name=_("email"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("ip"))
    user_agent = models.CharField(max_length=512, blank=True, verbose_name=_("user agent"))
    # The page's language, so the mail written later in a task speaks it too.
    language = models.CharField(max_length=16, blank=True, verbose_name=_("language"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["ip", "created_at"], name="reset_request_ip_time"),
            models.Index(fields=["processed_at", "created_at"], name="reset_request_pending"),
        ]

    def __str__(self) -> str:
        return f"reset for {self.email} at {date_format(self.created_at, 'DATETIME_FORMAT')}"


class BreachedPasswordCheck(models.Model):
    """A password set while the breached-password service could not be reached, waiting for
    `accounts.tasks.recheck_breached_passwords` to ask again.

    Neither the password nor its SHA-1 is kept: only the five-character prefix (what the range
    API is asked anyway) and an HMAC of the whole SHA-1 under a key derived from SECRET_KEY, so
    the task can recognise the password among the answers without anyone being able to test
    guesses against this row. One row per person, for their current password: setting another
    password deletes it.
    """

    user = models.OneToOneField(
        User,
        on_delete=models.CASCADE,
        related_name="breached_password_check",
        verbose_name=_("user"),
    )
    prefix = models.CharField(max_length=5, verbose_name=_("prefix"))
    digest = models.CharField(max_length=64, verbose_name=_("digest"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        since = date_format(self.created_at, "DATETIME_FORMAT")
        return f"breached-password check for {self.user} since {since}"
