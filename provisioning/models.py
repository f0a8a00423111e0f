"""SCIM provisioning: a tenant's tokens, its settings, its directory's people and groups."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from teams.models import Role, Tenant, TenantQuerySet


class ProvisioningToken(models.Model):
    """What a tenant's directory (Entra ID, Okta, Google) authenticates its SCIM requests with.

    Only a SHA-256 digest of the token is kept: the token is 256 random bits, so a fast hash
    is as strong as a slow one against guessing and lets each request find its row by the
    digest. The token itself is shown once, when it is made. `prefix` (its first characters)
    tells tokens apart in lists without being enough to use one.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant")
    )
    name = models.CharField(
        _("name"),
        max_length=100,
        help_text=_(
            "Which directory uses it, say “Entra ID production”. Shown in the audit trail."
        ),
    )
    prefix = models.CharField(max_length=16, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    objects = TenantQuerySet.as_manager()
    secret_fields = frozenset({"digest"})

    class Meta:
        verbose_name = _("provisioning token")
        verbose_name_plural = _("provisioning tokens")
        ordering = ["tenant", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, *, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class ProvisioningSettings(models.Model):
    """A tenant's choices for what its directory may do. No row means the defaults."""

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant")
    )
    mail_joiners = models.BooleanField(
        _("mail people the directory adds"),
        default=False,
        help_text=_(
            "Send each person the directory adds an invitation (or, where single sign-on is "
            "required, a welcome saying how to sign in). Off: no mail at all."
        ),
    )
    manage_owners = models.BooleanField(
        _("let the directory make and change Owners"),
        default=False,
        help_text=_(
            "Off: the directory never gives an Owner's role, and never changes or deactivates "
            "an Owner. On or off, it never removes the last active Owner."
        ),
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("provisioning settings")
        verbose_name_plural = _("provisioning settings")

    def __str__(self) -> str:
        return str(_("Provisioning settings of %(tenant)s") % {"tenant": self.tenant.name})


class DirectoryPerson(models.Model):
    """A person as the directory knows them: its own id for them (`externalId`, Entra's
    object id or Okta's user id) beside ours, so a renamed sign-in email stays the same
    person. `removed_at` is set by a SCIM DELETE: the person is then deactivated and gone
    from the SCIM endpoint, but their account and its audit history stay."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_link"
    )
    external_id = models.CharField(max_length=255, blank=True)
    linked_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("directory person")
        verbose_name_plural = _("directory people")

    def __str__(self) -> str:
        return self.user.email


class DirectoryGroup(models.Model):
    """A group the directory pushes, and the role of this tenant its members get, if any."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant")
    )
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    display_name = models.CharField(_("group"), max_length=255)
    external_id = models.CharField(max_length=255, blank=True, editable=False)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="directory_groups"
    )
    role = models.ForeignKey(
        Role,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("role"),
        help_text=_(
            "Members of this group get this role. A person in several mapped groups gets the "
            "role that holds the most scopes. Empty: the group gives no role."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("directory group")
        verbose_name_plural = _("directory groups")
        ordering = ["tenant", "display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "display_name"], name="directory_group_name_unique_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name
