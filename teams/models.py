from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from teams import scopes

# Session limits: at least a minute and one session (zero would lock everybody out), and at most
# a day idle, thirty days in all and fifty sessions, beyond which a "limit" means nothing.
IDLE_TIMEOUT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(24 * 60)]
SESSION_LIFETIME_VALIDATORS = [MinValueValidator(1), MaxValueValidator(30 * 24 * 60)]
MAX_SESSIONS_VALIDATORS = [MinValueValidator(1), MaxValueValidator(50)]
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


def refuse_control_characters_in_name(name: str) -> None:
    """Names are shown on one line in lists, mails, exports and the audit trail; a line break or
    another control character in one only serves to forge what those show."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in name):
        raise ValidationError(
            "A name can't contain line breaks or other control characters.",
            code="control_characters",
        )


class Tenant(models.Model):
    """An MSP: its people, roles, sessions and audit trail belong to it alone."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    require_mfa = models.BooleanField(
        "require MFA for everyone", default=False, help_text="Everybody must enrol a second factor."
    )
    password_max_age_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Send people to change an older password after sign-in. Empty: never "
        "(NIST SP 800-63B advises against forced rotation).",
    )
    password_history_count = models.PositiveSmallIntegerField(
        default=0, help_text="Refuse reuse of this many previous passwords. 0: off."
    )
    breached_password_check_at_sign_in = models.BooleanField(
        "check passwords against breaches at sign-in",
        default=False,
        help_text="New passwords are always checked. With this on, people's current passwords "
        "are checked too when they sign in, at most once a day each; a breached one must be "
        "changed after the second step.",
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=IDLE_TIMEOUT_VALIDATORS,
        help_text="Tenant-wide cap on idle time; the stricter of this and "
        "the role's limit applies.",
    )
    session_lifetime_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=SESSION_LIFETIME_VALIDATORS,
        help_text="Tenant-wide cap on a session's absolute lifetime.",
    )
    max_sessions = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=MAX_SESSIONS_VALIDATORS,
        help_text="Tenant-wide cap on concurrent sessions per person.",
    )
    deactivate_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(INACTIVITY_WARNING_DAYS + 1), MaxValueValidator(3650)],
        help_text="Deactivate people with no sign-in for this many days; they are mailed a "
        f"warning {INACTIVITY_WARNING_DAYS} days before. Empty: off.",
    )
    audit_retention_months = models.PositiveIntegerField(
        null=True, blank=True, help_text="Remove audit events older than this. Empty: keep forever."
    )
    alert_owners_on_unusual_sign_in = models.BooleanField(
        default=False, help_text="Send owners a copy of unusual sign-in alerts."
    )

    class Meta:
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
        raise ValidationError("Scopes must be a list of scope names.", code="invalid_scopes")
    unknown = sorted(set(value) - scopes.ALL_SCOPES)
    if unknown:
        raise ValidationError(
            "Unknown scopes: %(unknown)s.",
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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=80)
    scopes = models.JSONField(default=list, blank=True, validators=[validate_scope_keys])
    is_builtin = models.BooleanField(default=False, editable=False)
    require_mfa = models.BooleanField("require MFA", default=False)
    idle_timeout_minutes = models.PositiveIntegerField(
        default=30,
        validators=IDLE_TIMEOUT_VALIDATORS,
        help_text="Sign people out after this many minutes without a request.",
    )
    session_lifetime_minutes = models.PositiveIntegerField(
        default=12 * 60,
        validators=SESSION_LIFETIME_VALIDATORS,
        help_text="Sign people out this many minutes after they signed in, however active.",
    )
    max_sessions = models.PositiveSmallIntegerField(
        default=5,
        validators=MAX_SESSIONS_VALIDATORS,
        help_text="Concurrent sessions per person; a new sign-in ends the oldest.",
    )

    objects = RoleQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="role_name_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name

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
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="sessions"
    )
    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="tracked_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    started_at = models.DateTimeField()
    last_active_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-last_active_at"]
        indexes = [models.Index(fields=["user", "started_at"], name="session_user_started")]

    def __str__(self) -> str:
        return f"{self.user} since {self.started_at:%Y-%m-%d %H:%M}"
