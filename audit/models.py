from django.conf import settings
from django.db import models

from audit.events import AuditEventType
from teams.models import TenantQuerySet


class AuditEvent(models.Model):
    """One security-relevant thing that happened, written once by `audit_event_record`."""

    tenant = models.ForeignKey(
        "teams.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    event = models.PositiveSmallIntegerField(choices=AuditEventType.choices)
    created_at = models.DateTimeField(db_index=True)
    # The labels keep who it was readable after the person is deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    target_label = models.CharField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_time"),
            models.Index(fields=["target", "event", "-created_at"], name="audit_target_event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} at {self.created_at:%Y-%m-%d %H:%M:%S} UTC"
