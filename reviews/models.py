from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from teams.models import Tenant, TenantQuerySet


class AccessReview(models.Model):
    """An owner saying "I reviewed who has access", with how many people that covered."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="access_reviews", verbose_name=_("tenant")
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    people_reviewed = models.PositiveIntegerField(verbose_name=_("people reviewed"))
    flagged = models.PositiveIntegerField(verbose_name=_("flagged"))
    completed_at = models.DateTimeField(default=timezone.now, verbose_name=_("completed at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        # Made by the support app before access reviews had an app of their own.
        db_table = "support_accessreview"
        ordering = ["-completed_at"]

    def __str__(self) -> str:
        return f"access review of {self.tenant} at {date_format(self.completed_at, 'DATE_FORMAT')}"


class AccessReviewSummarySent(models.Model):
    """The monthly summary mail was queued for this tenant's Owners this month.

    Queued in the same transaction as the mail, and unique per tenant and month: a second run
    in the same month (a beat takeover at the wrong instant, or the task started by hand) finds
    the mark and mails nobody twice.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant")
    )
    month = models.DateField(
        help_text=_("The first day of the month the summary was for."), verbose_name=_("month")
    )
    sent_at = models.DateTimeField(default=timezone.now, verbose_name=_("sent at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "month"], name="access_review_summary_once_a_month"
            )
        ]

    def __str__(self) -> str:
        return f"access review summary of {self.tenant} for {self.month:%Y-%m}"


class AccessReviewEntry(User):
    """A person as the access review sees them: the admin's access-review list is registered on
    this proxy so that it sits beside the people list without changing it."""

    class Meta:
        proxy = True
        verbose_name = _("person")
        verbose_name_plural = _("access review")
