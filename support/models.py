from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from teams.models import Tenant, TenantQuerySet


class RecoveryRequestQuerySet(TenantQuerySet):
    def open(self) -> "RecoveryRequestQuerySet":
        return self.filter(status=RecoveryRequest.Status.OPEN)


class RecoveryRequest(models.Model):
    """A person who can't sign in asking their tenant's owners for help ("Can't sign in?").

    Only recorded for a real, active account; the page answers the same for every email. An
    owner checks who is asking out of band, then resolves it with one action or declines it.
    """

    class Reason(models.TextChoices):
        LOST_FACTORS = "lost_factors", _("I lost my authenticator app and my backup codes")
        LOCKED_OUT = "locked_out", _("I'm locked out after failed sign-ins")
        OTHER = "other", _("Something else")

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting")
        RESOLVED = "resolved", _("Resolved")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")

    class Outcome(models.TextChoices):
        MFA_RESET = "mfa_reset", _("Two-factor authentication reset")
        UNLOCKED = "unlocked", _("Account unlocked")
        RESET_LINK = "reset_link", _("Password reset link sent")

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="recovery_requests", verbose_name=_("tenant")
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="recovery_requests",
        verbose_name=_("person"),
    )
    reason = models.CharField(max_length=20, choices=Reason.choices, verbose_name=_("reason"))
    note = models.TextField(blank=True, max_length=1000, verbose_name=_("note"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("ip"))
    user_agent = models.CharField(max_length=512, blank=True, verbose_name=_("user agent"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN, verbose_name=_("status")
    )
    outcome = models.CharField(
        max_length=20, choices=Outcome.choices, blank=True, verbose_name=_("outcome")
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="recovery_requests_handled",
        verbose_name=_("handled by"),
    )
    handled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("handled at"))

    objects = RecoveryRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("recovery request")
        verbose_name_plural = _("recovery requests")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status", "created_at"], name="recovery_queue")]

    def __str__(self) -> str:
        return gettext("recovery for %(person)s (%(status)s)") % {
            "person": self.person,
            "status": self.get_status_display(),
        }


class RecoveryAttempt(models.Model):
    """Every submission of the recovery form, real email or not, kept until a task looks it up.

    The page answers the same, at the same speed, whatever the email: whether it names an
    account is only looked up later, in `support.tasks` (the sweep picks up attempts whose task
    never ran). These rows are also what the rate limits count, in the database, so the limits
    hold across processes and with Redis down. Kept two days: they hold emails typed by anyone.
    """

    email = models.CharField(max_length=254, verbose_name=_("email"))
    reason = models.CharField(
        max_length=20, choices=RecoveryRequest.Reason.choices, verbose_name=_("reason")
    )
    note = models.TextField(blank=True, max_length=1000, verbose_name=_("note"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("ip"))
    user_agent = models.CharField(max_length=512, blank=True, verbose_name=_("user agent"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))

    class Meta:
        indexes = [
            models.Index(fields=["email", "created_at"], name="recovery_attempt_email"),
            models.Index(fields=["ip", "created_at"], name="recovery_attempt_ip"),
            models.Index(fields=["processed_at", "created_at"], name="recovery_attempt_pending"),
        ]

    def __str__(self) -> str:
        return f"recovery attempt at {date_format(self.created_at, 'DATETIME_FORMAT')}"
