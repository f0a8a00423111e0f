from django.conf import settings
from django.db import models

from audit.events import AuditEventType
from teams.models import TenantQuerySet


class AppendOnlyError(Exception):
    """Audit events are written once and never changed or removed through the application."""


class AuditEventQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events can't be changed.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("Audit events can't be changed.")

    def delete(self):
        raise AppendOnlyError(
            "Audit events can't be deleted; only the retention task removes old ones."
        )

    delete.queryset_only = True


class AuditEvent(models.Model):
    """One security-relevant thing that happened, written once by `audit_event_record`.

    Each event is a link in its tenant's hash chain (platform events without a tenant form a
    chain of their own): `sequence` is its place in the chain, `hash` is an HMAC under the chain
    key over its content and the previous link's hash (see audit/chain.py). The ORM refuses to
    change or delete events; on PostgreSQL a trigger refuses it in SQL too, and the role the site
    runs as may neither change the table nor drop its triggers (docs/audit.md, "Database
    roles").
    """

    # No single-column indexes on the tenant and the target: the indexes below that start with
    # them serve the same lookups, and each index is one more write on every event.
    tenant = models.ForeignKey(
        "teams.Tenant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    event = models.PositiveSmallIntegerField(choices=AuditEventType.choices)
    created_at = models.DateTimeField()
    # No database constraint and no cascade: deleting a person must not rewrite their events.
    # The id stays (ids are never reused) and the labels keep who it was readable.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    actor_label = models.CharField(max_length=254, blank=True)
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    target_label = models.CharField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)
    sequence = models.PositiveBigIntegerField(editable=False)
    hash = models.CharField(max_length=64, editable=False)
    # Which chain key made `hash` (see audit/chain.py): a fingerprint, never the key.
    hash_key_id = models.CharField(max_length=16, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sequence"],
                condition=models.Q(tenant__isnull=False),
                name="audit_tenant_chain_sequence",
            ),
            models.UniqueConstraint(
                fields=["sequence"],
                condition=models.Q(tenant__isnull=True),
                name="audit_platform_chain_sequence",
            ),
        ]
        indexes = [
            # The trail: newest first within a tenant, optionally narrowed by one filter.
            models.Index(fields=["tenant", "-created_at", "-id"], name="audit_tenant_time"),
            # Events with no actor (the system's) or no address (bulk jobs, tasks) are never
            # looked up by one, so these indexes leave them out: a bulk job of 100,000 events
            # writes three fewer index entries per event.
            models.Index(
                fields=["tenant", "actor", "-created_at", "-id"],
                name="audit_tenant_by_actor",
                condition=models.Q(actor__isnull=False),
            ),
            models.Index(
                fields=["tenant", "target", "-created_at", "-id"], name="audit_tenant_target_time"
            ),
            models.Index(fields=["tenant", "event", "-created_at"], name="audit_tenant_event_time"),
            models.Index(
                fields=["tenant", "ip", "-created_at"],
                name="audit_tenant_by_ip",
                condition=models.Q(ip__isnull=False),
            ),
            # A person's own sign-in history and the sign-in checks.
            models.Index(fields=["target", "event", "-created_at"], name="audit_target_event_time"),
            # Operators read across tenants.
            models.Index(fields=["-created_at", "-id"], name="audit_time"),
            # An operator's person filter, across tenants.
            models.Index(
                fields=["actor"], name="audit_actor", condition=models.Q(actor__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} at {self.created_at:%Y-%m-%d %H:%M:%S} UTC"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events can't be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(
            "Audit events can't be deleted; only the retention task removes old ones."
        )


class AuditChain(models.Model):
    """The head of one hash chain: the lock writers queue on, and where the chain ends.

    `key` is the tenant's id, or 0 for platform events. Writers lock this row before linking a
    new event, so two writers never link to the same predecessor. `length` and `head_hash` are
    kept by a database trigger on every insert into the events table (so recording stays at two
    queries); verification checks them against the last event, which shows a truncated tail.

    Retention removes the oldest events and leaves a checkpoint: the sequence and hash of the
    last removed event, signed with the chain key (`<key id>:<HMAC>`), where verification starts
    again.
    """

    key = models.PositiveBigIntegerField(primary_key=True)
    # A plain foreign key: `key` is the one unique column, because `chains_lock` resolves a race
    # to create a chain on `key` alone, and a second unique index would fail the loser instead.
    tenant = models.ForeignKey(
        "teams.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    length = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64)
    checkpoint_sequence = models.PositiveBigIntegerField(default=0)
    checkpoint_hash = models.CharField(max_length=64, blank=True)
    checkpoint_signature = models.CharField(max_length=200, blank=True)
    checkpoint_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"Audit chain {self.key} ({self.length} events)"


class AuditCheckpoint(models.Model):
    """A signed note that one chain was verified up to here: its head, how many events it then
    held, and when.

    The hourly verification (`audit_chains_checkpoint`) starts each chain from its last
    checkpoint, so its cost follows what is new, then records a checkpoint at the head it
    verified; retention records one at each cut. `signature` is `<key id>:<HMAC>` under the
    audit chain key over all of it (audit/chain.py), so rows written with the database alone
    can't vouch for a changed chain: `verify_audit_log` reports a checkpoint that doesn't
    verify as a break.
    """

    class Reason(models.TextChoices):
        VERIFIED = "verified", "Verified up to the head"
        RETENTION = "retention", "Retention cut"

    chain_key = models.PositiveBigIntegerField()
    sequence = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    # Events the chain held at the checkpoint (after retention, fewer than `sequence`).
    events = models.PositiveBigIntegerField()
    recorded_at = models.DateTimeField()
    reason = models.CharField(max_length=10, choices=Reason.choices)
    signature = models.CharField(max_length=200)

    class Meta:
        ordering = ["chain_key", "-id"]
        indexes = [models.Index(fields=["chain_key", "-id"], name="audit_checkpoint_chain")]

    def __str__(self) -> str:
        return f"Checkpoint of chain {self.chain_key} at {self.sequence}"


class AuditWebhook(models.Model):
    """A tenant's own receiver of its audit events: an HTTPS address, signed with a secret.

    Each event is POSTed to `url`, in order, signed the Standard Webhooks way (the
    `standardwebhooks` package) with `secret`, which the owner sees once, when it is made or
    replaced. Where delivery has got to is an `AuditDelivery` cursor (audit/shipping.py).
    """

    tenant = models.OneToOneField(
        "teams.Tenant", on_delete=models.CASCADE, related_name="audit_webhook"
    )
    url = models.URLField(
        "address",
        max_length=500,
        help_text="Where each audit event is POSTed, signed (Standard Webhooks), in order.",
    )
    # The signing key must be readable to sign with; it is never shown again after it is made.
    secret = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    # Secrets, hashes and tokens: the admin refuses to filter, sort or link by them (teams.sites).
    secret_fields = frozenset({"secret"})

    class Meta:
        verbose_name = "audit webhook"

    def __str__(self) -> str:
        return self.url


class AuditDelivery(models.Model):
    """How far one destination has received one chain: a cursor over the chain's sequence.

    The destination is the operator's syslog receiver (one cursor per chain, platform chain
    included) or a tenant's webhook (one cursor, over that tenant's chain). Events after
    `delivered_sequence` are still to send; the cursor moves only once the destination has
    taken them, so nothing is lost while it is down, and it moves in sequence order, so each
    tenant's events arrive in order. A failure waits until `next_attempt_at` (backoff); a
    worker holds `leased_until` while it sends, so two workers never send one chain at once.
    """

    class Destination(models.TextChoices):
        SYSLOG = "syslog", "Syslog receiver"
        WEBHOOK = "webhook", "Tenant webhook"

    destination = models.CharField(max_length=10, choices=Destination.choices)
    chain_key = models.PositiveBigIntegerField()
    webhook = models.ForeignKey(
        AuditWebhook, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    delivered_sequence = models.PositiveBigIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "chain_key"], name="audit_delivery_one_cursor"
            )
        ]
        verbose_name_plural = "audit deliveries"

    def __str__(self) -> str:
        return f"{self.get_destination_display()} of chain {self.chain_key}"
