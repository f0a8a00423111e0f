from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="recovery_requests")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_requests"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.TextField(blank=True, max_length=1000)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="recovery_requests_handled",
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    objects = RecoveryRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status", "created_at"], name="recovery_queue")]

    def __str__(self) -> str:
        return f"recovery for {self.person} ({self.get_status_display()})"


class RecoveryAttempt(models.Model):
    """Every submission of the recovery form, real email or not, kept until a task looks it up.

    The page answers the same, at the same speed, whatever the email: whether it names an
    account is only looked up later, in `support.tasks` (the sweep picks up attempts whose task
    never ran). These rows are also what the rate limits count, in the database, so the limits
    hold across processes and with Redis down. Kept two days: they hold emails typed by anyone.
    """

    email = models.CharField(max_length=254)
    reason = models.CharField(max_length=20, choices=RecoveryRequest.Reason.choices)
    note = models.TextField(blank=True, max_length=1000)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["email", "created_at"], name="recovery_attempt_email"),
            models.Index(fields=["ip", "created_at"], name="recovery_attempt_ip"),
            models.Index(fields=["processed_at", "created_at"], name="recovery_attempt_pending"),
        ]

    def __str__(self) -> str:
        return f"recovery attempt at {date_format(self.created_at, 'DATETIME_FORMAT')}"
