"""Single sign-on: a tenant's identity provider, the email domains it answers for, and the
provider identities bound to people."""

import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from teams.models import SESSION_LIFETIME_MAX_MINUTES, Role, Tenant, TenantQuerySet

ENTRA_AUTHORITY = "https://login.microsoftonline.com"
GOOGLE_ISSUER = "https://accounts.google.com"
# Where a provider's discovery document is, under its issuer (OpenID Connect Discovery 1.0).
DISCOVERY_PATH = "/.well-known/openid-configuration"
# A session started through the provider may be held to a shorter age than its lifetime: at
# least this many minutes (shorter would send people back to the provider every few minutes),
# at most the longest lifetime any session has.
SESSION_MAX_AGE_MIN_MINUTES = 5
# A DNS name of letters, digits and hyphens, at least two labels: what an email's domain is.
DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def domain_normalize(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


def validate_domain(value: str) -> None:
    if not DOMAIN_PATTERN.match(domain_normalize(value)):
        raise ValidationError(
            _("Enter a domain name such as example.com, without “@” or “https://”."),
            code="invalid_domain",
        )


class IdentityProvider(models.Model):
    """A tenant's one identity provider, and its single sign-on policy."""

    class Kind(models.TextChoices):
        ENTRA = "entra", _("Microsoft Entra ID")
        GOOGLE = "google", _("Google Workspace")
        OIDC = "oidc", _("Other OpenID Connect provider")

    class Policy(models.TextChoices):
        OPTIONAL = "optional", _("Optional: people may sign in either way")
        REQUIRED = "required", _("Required: no password sign-in, except break-glass people")

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="identity_provider", verbose_name=_("tenant")
    )
    kind = models.CharField(
        max_length=10, choices=Kind.choices, default=Kind.ENTRA, verbose_name=_("kind")
    )
    name = models.CharField(
        _("name people know it by"),
        max_length=60,
        blank=True,
        help_text=_(
            "Other providers only: the name on the “Continue with …” button (Okta, Keycloak). "
            "Empty: “your organisation's sign-in”."
        ),
    )
    directory_id = models.UUIDField(
        _("directory (tenant) id"),
        null=True,
        blank=True,
        help_text=_(
            "Microsoft Entra ID only: the Directory (tenant) ID from the app registration's "
            "overview. Only this directory's sign-ins are accepted."
        ),
    )
    hosted_domain = models.CharField(
        _("Google Workspace domain"),
        max_length=253,
        blank=True,
        validators=[validate_domain],
        help_text=_(
            "Google only: your Workspace's primary domain; other Google accounts are refused."
        ),
    )
    discovery_url = models.URLField(
        _("discovery URL"),
        max_length=500,
        blank=True,
        help_text=_(
            "Other providers only: the address of the provider's "
            "/.well-known/openid-configuration document."
        ),
    )
    client_id = models.CharField(_("client id"), max_length=255)
    client_secret_encrypted = models.TextField(
        editable=False, verbose_name=_("client secret encrypted")
    )
    secret_set_at = models.DateTimeField(null=True, editable=False, verbose_name=_("secret set at"))
    enabled = models.BooleanField(
        default=True,
        help_text=_("Off: nobody signs in through this provider."),
        verbose_name=_("enabled"),
    )
    policy = models.CharField(
        max_length=10, choices=Policy.choices, default=Policy.OPTIONAL, verbose_name=_("policy")
    )
    provider_mfa_accepted = models.BooleanField(
        _("accept the provider's multi-factor sign-in"),
        default=False,
        help_text=_(
            "On: a sign-in the provider reports as multi-factor (“mfa” in the token's amr "
            "claim) skips this site's second step. Off (recommended): the second step is "
            "still asked."
        ),
    )
    session_max_age_minutes = models.PositiveIntegerField(
        _("ask the provider again after (minutes)"),
        null=True,
        blank=True,
        validators=[
            MinValueValidator(SESSION_MAX_AGE_MIN_MINUTES),
            MaxValueValidator(
                SESSION_LIFETIME_MAX_MINUTES,
                message=_(
                    "At most %(limit_value)s minutes (a day): no session lasts longer anyway."
                ),
            ),
        ],
        help_text=_(
            "A session started through the provider ends this many minutes after the sign-in, "
            "however active, so the person goes back to the provider, which checks them again. "
            "Empty: the session's usual lifetime."
        ),
    )
    new_person_role = models.ForeignKey(
        Role,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("create unknown people with role"),
        help_text=_(
            "Empty (recommended): only people already added here can sign in. Set: someone "
            "the provider vouches for, with a verified email on one of your claimed domains, "
            "is added with this role at their first sign-in."
        ),
    )
    break_glass = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        verbose_name=_("break-glass people"),
        help_text=_(
            "People who may still sign in with their password when single sign-on is "
            "required, in case the provider is down. At least one Owner must be here."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    # Secrets, hashes and tokens: the admin refuses to filter, sort or link by them (teams.sites).
    secret_fields = frozenset({"client_secret_encrypted"})

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("single sign-on provider")
        verbose_name_plural = _("single sign-on providers")

    def __str__(self) -> str:
        return f"{self.label} ({self.tenant})"

    @property
    def label(self) -> str:
        """The provider's name as people know it: "Sign in with Microsoft"."""
        if self.kind == self.Kind.ENTRA:
            return "Microsoft"
        if self.kind == self.Kind.GOOGLE:
            return "Google"
        return self.name or str(_("your organisation's sign-in"))

    @property
    def metadata_url(self) -> str:
        if self.kind == self.Kind.ENTRA:
            return f"{ENTRA_AUTHORITY}/{self.directory_id}/v2.0/.well-known/openid-configuration"
        if self.kind == self.Kind.GOOGLE:
            return f"{GOOGLE_ISSUER}/.well-known/openid-configuration"
        return self.discovery_url

    @property
    def expected_issuer(self) -> str | None:
        """The issuer every token must name. Entra's is the one directory's, never the
        `common` endpoint's "{tenantid}" template; a generic provider's is the issuer of its
        discovery document (None here: read from the document, which must be under it)."""
        if self.kind == self.Kind.ENTRA:
            return f"{ENTRA_AUTHORITY}/{self.directory_id}/v2.0"
        if self.kind == self.Kind.GOOGLE:
            return GOOGLE_ISSUER
        return None

    def clean(self) -> None:
        errors = {}
        if self.kind == self.Kind.ENTRA and not self.directory_id:
            errors["directory_id"] = _("Microsoft Entra ID needs the directory (tenant) id.")
        if self.kind == self.Kind.GOOGLE and not self.hosted_domain:
            errors["hosted_domain"] = _("Google needs your Workspace domain.")
        if self.kind == self.Kind.OIDC and not self.discovery_url:
            errors["discovery_url"] = _("Another provider needs its discovery URL.")
        elif self.kind == self.Kind.OIDC and not self.discovery_url.endswith(DISCOVERY_PATH):
            errors["discovery_url"] = _(
                "Enter the address of the provider's discovery document: its issuer followed "
                "by /.well-known/openid-configuration."
            )
        if self.new_person_role_id and self.new_person_role.tenant_id != self.tenant_id:
            errors["new_person_role"] = _("Choose one of your own roles.")
        if errors:
            raise ValidationError(errors)


# The fields only one kind of provider uses; the others' are emptied when a provider is saved
# (sso.forms), and the admin shows each group under its kind's heading.
KIND_FIELDS = {
    IdentityProvider.Kind.ENTRA: ("directory_id",),
    IdentityProvider.Kind.GOOGLE: ("hosted_domain",),
    IdentityProvider.Kind.OIDC: ("name", "discovery_url"),
}


class ClaimedDomain(models.Model):
    """An email domain whose people sign in through one tenant's provider.

    A domain is claimed by one tenant only: by a platform operator (`manage.py sso_domain`, or
    the operators' admin, with a note saying how ownership was checked), or by the tenant's
    owner publishing a DNS TXT record (`DomainVerification`). Typing a domain into a tenant's
    own settings never claims it by itself.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="claimed_domains", verbose_name=_("tenant")
    )
    domain = models.CharField(
        max_length=253,
        unique=True,
        validators=[validate_domain],
        error_messages={"unique": _("That domain is already claimed.")},
        verbose_name=_("domain"),
    )
    note = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("How the claim was checked, for the record."),
        verbose_name=_("note"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["domain"]
        verbose_name = _("claimed domain")
        verbose_name_plural = _("claimed domains")

    def __str__(self) -> str:
        return self.domain


class ProviderIdentity(models.Model):
    """A provider's subject bound to a person: after the first sign-in the subject, not the
    email, decides who signs in. One subject (per issuer) is one person, for good."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="provider_identities",
        verbose_name=_("user"),
    )
    issuer = models.CharField(max_length=500, verbose_name=_("issuer"))
    subject = models.CharField(max_length=255, verbose_name=_("subject"))
    email_at_link = models.CharField(
        max_length=254, editable=False, verbose_name=_("email at link")
    )
    linked_at = models.DateTimeField(auto_now_add=True, verbose_name=_("linked at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_one_person")
        ]
        verbose_name = _("linked provider identity")
        verbose_name_plural = _("linked provider identities")

    def __str__(self) -> str:
        return f"{self.user} ↔ {self.subject}"


# The DNS TXT record an owner publishes to prove a domain is theirs: its name under the domain
# and its value, with the verification's own random token.
CHALLENGE_LABEL = "_portcullis-challenge"
CHALLENGE_VALUE_PREFIX = "portcullis-verification="


def verification_token() -> str:
    return secrets.token_urlsafe(24)


class DomainVerification(models.Model):
    """An owner's request to claim an email domain by publishing a DNS TXT record.

    The record's value holds a random token of this request, so only whoever controls the
    domain's DNS can publish it. Found, the domain is claimed for the tenant (`claim`); a
    claimed domain's record is looked up again daily and the claim released once it has been
    missing for a week (sso/domain_verification.py, docs/sso.md)."""

    class Outcome(models.TextChoices):
        FOUND = "found", _("the record was found")
        NOT_FOUND = "not_found", _("no TXT record by that name was found")
        WRONG_VALUE = "wrong_value", _("TXT records were found there, but none with this value")
        LOOKUP_FAILED = "lookup_failed", _("the DNS lookup failed (no answer in time)")
        CLAIMED_ELSEWHERE = (
            "claimed_elsewhere",
            _("another organisation on this site has already claimed this domain"),
        )

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        related_name="domain_verifications",
        verbose_name=_("tenant"),
    )
    domain = models.CharField(_("domain"), max_length=253, validators=[validate_domain])
    token = models.CharField(max_length=64, default=verification_token, editable=False)
    # The claim this verification made; released (by an operator or because the record went
    # away for good), the verification goes with it or back to waiting.
    claim = models.OneToOneField(
        ClaimedDomain,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="verification",
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)
    # Added or "Check now" pressed: the automatic checks of a waiting domain run for
    # PENDING_CHECK_DAYS after this.
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    checked_at = models.DateTimeField(_("last checked"), null=True, blank=True, editable=False)
    outcome = models.CharField(
        _("last check"), max_length=20, choices=Outcome.choices, blank=True, editable=False
    )
    # A claimed domain's record not found since then (a failed lookup neither starts nor
    # stops this).
    missing_since = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "domain"], name="sso_verification_once")
        ]
        verbose_name = _("domain to verify")
        verbose_name_plural = _("domains to verify")

    def __str__(self) -> str:
        return self.domain

    @property
    def record_name(self) -> str:
        return f"{CHALLENGE_LABEL}.{self.domain}"

    @property
    def record_value(self) -> str:
        return f"{CHALLENGE_VALUE_PREFIX}{self.token}"
