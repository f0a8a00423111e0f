import ipaddress
import unicodedata
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from teams import scopes

# Session limits: at least a minute and one session (zero would lock everybody out), and at most
# an hour idle and a day in all, NIST SP 800-63B-4's bounds for AAL2 (ASVS 5.0 V7.1.1; see
# docs/security.md), and fifty sessions, beyond which a "limit" means nothing.
IDLE_TIMEOUT_MAX_MINUTES = 60
SESSION_LIFETIME_MAX_MINUTES = 24 * 60
IDLE_TIMEOUT_VALIDATORS = [
    MinValueValidator(1),
    MaxValueValidator(
        IDLE_TIMEOUT_MAX_MINUTES,
        message=_(
            "At most %(limit_value)s minutes: a session left idle longer than an hour must sign "
            "in again (NIST SP 800-63B, AAL2)."
        ),
    ),
]
SESSION_LIFETIME_VALIDATORS = [
    MinValueValidator(1),
    MaxValueValidator(
        SESSION_LIFETIME_MAX_MINUTES,
        message=_(
            "At most %(limit_value)s minutes (a day): everybody signs in again at least daily "
            "(NIST SP 800-63B, AAL2)."
        ),
    ),
]
MAX_SESSIONS_VALIDATORS = [MinValueValidator(1), MaxValueValidator(50)]
# A remembered browser skips the second step; a month is the longest peers allow (Atera: a week).
REMEMBER_BROWSER_MAX_DAYS = 30
# People are warned this many days before an inactivity deactivation, so the setting must leave
# room for the warning.
INACTIVITY_WARNING_DAYS = 7


def is_operator(user) -> bool:
    """Operators (active superusers) see and act on every tenant; everybody else on their own."""
    return user.is_active and user.is_superuser


class TenantQuerySet(models.QuerySet):
    """The one place tenant scoping happens for tenant-owned rows."""

    def for_tenant(self, tenant: "Tenant") -> "TenantQuerySet":
        return self.filter(tenant=tenant)

    def visible_to(self, viewer) -> "TenantQuerySet":
        """The rows `viewer` may see: every tenant's for an operator, their own tenant's for
        anybody else active, none for a deactivated person or one without a tenant.

        It sits with the models so that every layer, audit at the bottom too, asks the same
        question; `teams.access` builds views' checks on it.
        """
        if is_operator(viewer):
            return self.all()
        if not viewer.is_active or viewer.tenant_id is None:
            return self.none()
        return self.filter(tenant_id=viewer.tenant_id)


# Control characters (Cc: line breaks, tabs, escapes), format characters (Cf: the bidi overrides
# and isolates that reverse how text reads, zero-width spaces and joiners) and the Unicode line
# and paragraph separators (Zl, Zp).
NAME_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def refuse_control_characters_in_name(name: str) -> None:
    """Names are shown on one line in lists, mails, exports and the audit trail; a line break,
    another control character or a bidi override in one only serves to forge what those show
    (a "name" that starts a new line of a mail, or reads backwards)."""
    if any(unicodedata.category(character) in NAME_REFUSED_CATEGORIES for character in name):
        raise ValidationError(
            _(
                "A name can't contain line breaks, other control characters or invisible "
                "characters that change how text reads."
            ),
            code="control_characters",
        )


class Tenant(models.Model):
    """An MSP: its people, roles, sessions and audit trail belong to it alone."""

    name = models.CharField(max_length=200, verbose_name=_("name"))
    slug = models.SlugField(max_length=60, unique=True, verbose_name=_("slug"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    require_mfa = models.BooleanField(
        _("require MFA for everyone"),
        default=False,
        help_text=_("Everybody must enrol a second factor."),
    )
    passwordless_sign_in = models.BooleanField(
        _("allow sign-in with a passkey alone"),
        default=False,
        help_text=_(
            "People who have a passkey may sign in with it from the sign-in page, without "
            "typing their password. The passkey must check who holds it (a fingerprint, face "
            "or PIN)."
        ),
    )
    single_sign_on_required = models.BooleanField(
        default=False,
        editable=False,
        help_text=_(
            "Kept by single sign-on: the tenant's provider is enabled and required. The "
            "password and passkey-alone doors ask for the provider's break-glass list only then."
        ),
        verbose_name=_("single sign on required"),
    )
    single_sign_on_max_age_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Kept by single sign-on: the provider's maximum session age. A session started "
            "through the provider ends this many minutes after it began. Empty: off."
        ),
    )
    password_max_age_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Send people to change an older password after sign-in. Empty: never "
            "(NIST SP 800-63B advises against forced rotation)."
        ),
        verbose_name=_("password max age days"),
    )
    password_history_count = models.PositiveSmallIntegerField(
        default=0,
        help_text=_("Refuse reuse of this many previous passwords. 0: off."),
        verbose_name=_("password history count"),
    )
    breached_password_check_at_sign_in = models.BooleanField(
        _("check passwords against breaches at sign-in"),
        default=False,
        help_text=_(
            "New passwords are always checked. With this on, people's current passwords "
            "are checked too when they sign in, at most once a day each; a breached one must be "
            "changed after the second step."
        ),
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=IDLE_TIMEOUT_VALIDATORS,
        help_text=_(
            "Tenant-wide cap on idle time; the stricter of this and the role's limit applies."
        ),
        verbose_name=_("idle timeout minutes"),
    )
    session_lifetime_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=SESSION_LIFETIME_VALIDATORS,
        help_text=_("Tenant-wide cap on a session's absolute lifetime."),
        verbose_name=_("session lifetime minutes"),
    )
    max_sessions = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=MAX_SESSIONS_VALIDATORS,
        help_text=_("Tenant-wide cap on concurrent sessions per person."),
        verbose_name=_("max sessions"),
    )
    deactivate_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(INACTIVITY_WARNING_DAYS + 1), MaxValueValidator(3650)],
        help_text=format_lazy(
            _(
                "Deactivate people with no sign-in for this many days; they are mailed a "
                "warning {days} days before. Empty: off."
            ),
            days=INACTIVITY_WARNING_DAYS,
        ),
        verbose_name=_("deactivate after days"),
    )
    audit_retention_months = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Remove audit events older than this. Empty: keep forever."),
        verbose_name=_("audit retention months"),
    )
    remember_browser_days = models.PositiveSmallIntegerField(
        _("remember a browser for (days)"),
        default=7,
        validators=[MaxValueValidator(REMEMBER_BROWSER_MAX_DAYS)],
        help_text=_(
            "After the second step people may tick “Don't ask for a code on this browser” "
            "for this many days; the password is still asked every time. 0: off, and browsers "
            "remembered before are asked for a code again."
        ),
    )
    alert_owners_on_unusual_sign_in = models.BooleanField(
        default=False,
        help_text=_("Send owners a copy of unusual sign-in alerts."),
        verbose_name=_("alert owners on unusual sign in"),
    )
    # The switch is also the denormalised flag every signed-in request reads from the tenant it
    # already loaded with the person, so a tenant without a list pays no query for it.
    access_list_enabled = models.BooleanField(
        _("enforce the IP access list"),
        default=False,
        help_text=_(
            "Allow sign-in only from the networks on the IP access list, for the roles "
            "its entries name (an entry naming no role applies to everybody). People to whom no "
            "entry applies are not restricted."
        ),
    )
    access_list_exempt_owner = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("Owner exempt from the IP access list"),
        help_text=_(
            "This Owner can always sign in, so the tenant can never be locked out by "
            "its own list: the Owner who switched the list on, or the longest-standing Owner "
            "once they are no longer one."
        ),
    )

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        try:
            refuse_control_characters_in_name(self.name)
        except ValidationError as error:
            raise ValidationError({"name": error}) from error


def validate_scope_keys(value: list) -> None:
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise ValidationError(_("Scopes must be a list of scope names."), code="invalid_scopes")
    unknown = sorted(set(value) - scopes.ALL_SCOPES)
    if unknown:
        raise ValidationError(
            _("Unknown scopes: %(unknown)s."),
            code="unknown_scopes",
            params={"unknown": ", ".join(unknown)},
        )


class RoleQuerySet(TenantQuerySet):
    def owner(self) -> "RoleQuerySet":
        """The roles that make their holders Owners: those holding `scopes.SECURITY_WRITE`.

        Picked in Python (roles are few) because SQLite can't look inside a JSON list.
        """
        ids = [
            pk
            for pk, keys in self.values_list("pk", "scopes")
            if isinstance(keys, list) and scopes.SECURITY_WRITE in keys
        ]
        return self.filter(pk__in=ids)


class Role(models.Model):
    """A named set of scopes within one tenant."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="roles", verbose_name=_("tenant")
    )
    name = models.CharField(max_length=80, verbose_name=_("name"))
    scopes = models.JSONField(
        default=list, blank=True, validators=[validate_scope_keys], verbose_name=_("scopes")
    )
    is_builtin = models.BooleanField(default=False, editable=False, verbose_name=_("is builtin"))
    # Secure by default (ASVS 5.0 V6.3.3): every role of a new tenant, and every role made
    # later, requires a second factor until an owner relaxes it, which asks for confirmation
    # and is audited (teams.services.roles).
    require_mfa = models.BooleanField(
        _("require MFA"),
        default=True,
        help_text=_(
            "People holding this role must enrol a second factor. Switching this off asks you "
            "to confirm first and is recorded in the audit trail."
        ),
    )
    require_phishing_resistant = models.BooleanField(
        _("require a passkey"),
        default=False,
        help_text=_(
            "People with this role must sign in with a passkey (a phishing-resistant factor): "
            "an authenticator code or backup code no longer does, and people without a passkey "
            "register one at their next sign-in."
        ),
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        default=30,
        validators=IDLE_TIMEOUT_VALIDATORS,
        help_text=_("Sign people out after this many minutes without a request."),
        verbose_name=_("idle timeout minutes"),
    )
    session_lifetime_minutes = models.PositiveIntegerField(
        default=12 * 60,
        validators=SESSION_LIFETIME_VALIDATORS,
        help_text=_("Sign people out this many minutes after they signed in, however active."),
        verbose_name=_("session lifetime minutes"),
    )
    max_sessions = models.PositiveSmallIntegerField(
        default=5,
        validators=MAX_SESSIONS_VALIDATORS,
        help_text=_("Concurrent sessions per person; a new sign-in ends the oldest."),
        verbose_name=_("max sessions"),
    )

    objects = RoleQuerySet.as_manager()

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="role_name_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The name as shown: a built-in role's in the reader's language."""
        return scopes.role_label(name=self.name, is_builtin=self.is_builtin)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes) & scopes.ALL_SCOPES

    @property
    def is_owner(self) -> bool:
        """Holders are Owners (the role holds `scopes.SECURITY_WRITE`), of whom a tenant always
        keeps one active."""
        return scopes.SECURITY_WRITE in self.scope_set


class UserSession(models.Model):
    """One signed-in browser session of a person, mirrored from Django's session store.

    Django's sessions table can't be queried by person; this row can, so sessions can be listed,
    capped and ended by person, tenant or age.
    """

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name=_("tenant"),
    )
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.CASCADE,
        related_name="tracked_sessions",
        verbose_name=_("user"),
    )
    session_key = models.CharField(max_length=40, unique=True, verbose_name=_("session key"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("ip"))
    user_agent = models.CharField(max_length=512, blank=True, verbose_name=_("user agent"))
    started_at = models.DateTimeField(verbose_name=_("started at"))
    last_active_at = models.DateTimeField(verbose_name=_("last active at"))
    # A session started through the tenant's identity provider: the provider's issuer, the
    # person's subject there and the provider's session id (`sid`, when its ID token has one),
    # so the provider can end it (OpenID Connect back-channel logout) and the tenant's single
    # sign-on maximum age holds it. Empty for every other door.
    provider_issuer = models.CharField(max_length=500, blank=True, editable=False)
    provider_subject = models.CharField(max_length=255, blank=True, editable=False)
    provider_sid = models.CharField(max_length=255, blank=True, editable=False)

    # Secrets, hashes and tokens: the admin refuses to filter, sort or link by them (teams.sites).
    secret_fields = frozenset({"session_key"})

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("user session")
        verbose_name_plural = _("user sessions")
        ordering = ["-last_active_at"]
        indexes = [
            models.Index(fields=["user", "started_at"], name="session_user_started"),
            models.Index(fields=["tenant", "provider_subject"], name="session_provider_subject"),
            models.Index(fields=["tenant", "provider_sid"], name="session_provider_sid"),
        ]

    def __str__(self) -> str:
        return gettext("%(person)s since %(at)s") % {
            "person": self.user,
            "at": date_format(self.started_at, "DATETIME_FORMAT"),
        }


class RememberedBrowser(models.Model):
    """A browser whose person ticked "Don't ask for a code on this browser" after a second step.

    The browser holds a random token in a cookie; only its SHA-256 is stored, so a database dump
    gives no working cookie (the token has 256 random bits, so a fast hash is enough). It stands
    in for the second step of this person only, until it expires or is forgotten, and never for
    the password or any other step.
    """

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="remembered_browsers",
        verbose_name=_("tenant"),
    )
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.CASCADE,
        related_name="remembered_browsers",
        verbose_name=_("user"),
    )
    token_hash = models.CharField(max_length=64, unique=True, verbose_name=_("token hash"))
    user_agent = models.CharField(max_length=512, blank=True, verbose_name=_("user agent"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))

    # Secrets, hashes and tokens: the admin refuses to filter, sort or link by them (teams.sites).
    secret_fields = frozenset({"token_hash"})

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("remembered browser")
        verbose_name_plural = _("remembered browsers")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "expires_at"], name="remembered_user_expires")]

    def __str__(self) -> str:
        return gettext("%(person)s's browser remembered since %(at)s") % {
            "person": self.user,
            "at": date_format(self.created_at, "DATETIME_FORMAT"),
        }


# "Up to a few hundred" ranges per tenant (IT Glue keeps 200); more is a sign of a mistake.
ACCESS_LIST_MAX_ENTRIES = 500
ADDRESS_HEX_LENGTH = 32
EXCEPTION_MAX_LENGTH = timedelta(days=366)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An address as fixed-width lower-case hex, so that ranges compare as strings on every
    database (SQLite has no network type)."""
    return f"{int(address):0{ADDRESS_HEX_LENGTH}x}"


def client_address_parse(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client address as the access list sees it: an IPv4 client reaching an IPv6 socket
    (`::ffff:192.0.2.1`) is the IPv4 address it is."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def network_parse(text: str) -> IPNetwork:
    """A range typed by an owner, as a network: `192.0.2.0/24`, `2001:db8::/32`, or one address
    (`/32` or `/128`). Host bits set are refused, naming the range that was probably meant,
    rather than silently widened or narrowed."""
    text = (text or "").strip()
    if not text:
        raise ValidationError(
            _("Enter a range such as 192.0.2.0/24 or 2001:db8::/48."), code="empty"
        )
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as error:
        raise ValidationError(
            _(
                "“%(text)s” is not an IPv4 or IPv6 range. Write an address, or an address and a "
                "prefix length, such as 192.0.2.0/24 or 2001:db8::/48."
            ),
            code="invalid_network",
            params={"text": text[:100]},
        ) from error
    if "/" in text and network.network_address != ipaddress.ip_interface(text).ip:
        raise ValidationError(
            _(
                "%(text)s has host bits set: the /%(prefix)s range that holds it is %(network)s. "
                "Enter %(network)s, or the single address %(address)s."
            ),
            code="host_bits_set",
            params={
                "text": text,
                "prefix": network.prefixlen,
                "network": network,
                "address": ipaddress.ip_interface(text).ip,
            },
        )
    return network


class AccessListEntry(models.Model):
    """One allowed network of a tenant's IP access list, for everybody or for chosen roles."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="access_list", verbose_name=_("tenant")
    )
    network = models.CharField(
        _("range"),
        max_length=49,
        help_text=_(
            "An IPv4 or IPv6 range in CIDR form (192.0.2.0/24, 2001:db8::/48), or one address."
        ),
    )
    label = models.CharField(
        max_length=100, help_text=_("What this range is: “Office”, “VPN”."), verbose_name=_("label")
    )
    roles = models.ManyToManyField(
        Role,
        blank=True,
        related_name="+",
        help_text=_("Only people with these roles are held to this entry. None: everybody."),
        verbose_name=_("roles"),
    )
    version = models.PositiveSmallIntegerField(editable=False, verbose_name=_("version"))
    first_address = models.CharField(
        max_length=ADDRESS_HEX_LENGTH, editable=False, verbose_name=_("first address")
    )
    last_address = models.CharField(
        max_length=ADDRESS_HEX_LENGTH, editable=False, verbose_name=_("last address")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "label", "network"]
        verbose_name = _("IP access list entry")
        verbose_name_plural = _("IP access list")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "network"], name="access_list_network_unique_per_tenant"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "version", "first_address", "last_address"],
                name="access_list_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.network})"

    def clean(self) -> None:
        super().clean()
        try:
            refuse_control_characters_in_name(self.label)
        except ValidationError as error:
            raise ValidationError({"label": error}) from error
        try:
            self.network_set(network_parse(self.network))
        except ValidationError as error:
            raise ValidationError({"network": error}) from error

    def network_set(self, network: IPNetwork) -> None:
        """Store `network` normalised, with the bounds the access list compares against."""
        self.network = str(network)
        self.version = network.version
        self.first_address = address_key(network.network_address)
        self.last_address = address_key(network.broadcast_address)


class AccessListException(models.Model):
    """A person who may sign in from anywhere until `expires_at`, whatever the access list says
    (travel, a home office while the VPN is down)."""

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        related_name="access_list_exceptions",
        verbose_name=_("tenant"),
    )
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.CASCADE,
        related_name="access_list_exceptions",
        verbose_name=_("person"),
    )
    expires_at = models.DateTimeField(
        _("until"), help_text=_("The exception ends at this moment; at most a year ahead.")
    )
    reason = models.CharField(max_length=200, blank=True, verbose_name=_("reason"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-expires_at"]
        verbose_name = _("IP access list exception")
        verbose_name_plural = _("IP access list exceptions")
        indexes = [models.Index(fields=["user", "expires_at"], name="access_exception_live")]

    def __str__(self) -> str:
        return gettext("%(person)s until %(at)s") % {
            "person": self.user,
            "at": date_format(self.expires_at, "DATETIME_FORMAT"),
        }

    def clean(self) -> None:
        super().clean()
        if self.user_id and self.tenant_id and self.user.tenant_id != self.tenant_id:
            raise ValidationError(
                {"user": "The person must belong to this tenant."}, code="foreign_person"
            )
        now = timezone.now()
        if self.expires_at is not None and self.expires_at <= now:
            raise ValidationError(
                {"expires_at": "An exception must end in the future."}, code="expired"
            )
        if self.expires_at is not None and self.expires_at > now + EXCEPTION_MAX_LENGTH:
            raise ValidationError(
                {"expires_at": "An exception can last at most a year; grant a new one then."},
                code="too_long",
            )
