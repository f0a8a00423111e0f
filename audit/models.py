from django.conf import settings
from django.db import models
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

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
        verbose_name=_("tenant"),
    )
    event = models.PositiveSmallIntegerField(
        choices=AuditEventType.choices, verbose_name=_("event")
    )
    created_at = models.DateTimeField(verbose_name=_("created at"))
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
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(max_length=254, blank=True, verbose_name=_("actor label"))
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("target"),
    )
    target_label = models.CharField(max_length=254, blank=True, verbose_name=_("target label"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("ip"))
    user_agent = models.CharField(max_length=512, blank=True, verbose_name=_("user agent"))
    details = models.JSONField(default=dict, blank=True, verbose_name=_("details"))
    sequence = models.PositiveBigIntegerField(editable=False, verbose_name=_("sequence"))
    hash = models.CharField(max_length=64, editable=False, verbose_name=_("hash"))
    # Which chain key made `hash` (see audit/chain.py): a fingerprint, never the key.
    hash_key_id = models.CharField(max_length=16, editable=False, verbose_name=_("hash key id"))

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
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
            # Events with no actor (the system's), no target or no address (bulk jobs, tasks)
            # are never looked up by one, so these indexes leave them out: a bulk job of 100,000
            # events writes three fewer index entries per event, a system event five fewer.
            models.Index(
                fields=["tenant", "actor", "-created_at", "-id"],
                name="audit_tenant_by_actor",
                condition=models.Q(actor__isnull=False),
            ),
            models.Index(
                fields=["tenant", "target", "-created_at", "-id"],
                name="audit_tenant_by_target",
                condition=models.Q(target__isnull=False),
            ),
            models.Index(fields=["tenant", "event", "-created_at"], name="audit_tenant_event_time"),
            models.Index(
                fields=["tenant", "ip", "-created_at"],
                name="audit_tenant_by_ip",
                condition=models.Q(ip__isnull=False),
            ),
            # A person's own sign-in history and the sign-in checks.
            models.Index(
                fields=["target", "event", "-created_at"],
                name="audit_target_by_event",
                condition=models.Q(target__isnull=False),
            ),
            # Operators read across tenants.
            models.Index(fields=["-created_at", "-id"], name="audit_time"),
            # An operator's person filter, across tenants.
            models.Index(
                fields=["actor"], name="audit_actor", condition=models.Q(actor__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(event)s at %(at)s") % {
            "event": self.get_event_display(),
            "at": date_format(self.created_at, "DATETIME_FORMAT"),
        }

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events can't be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(
            "Audit events can't be deleted; only the retention task removes old ones."
        )

    def get_event_display(self) -> str:
        """The event type in words, as Django's own would say it. Django's builds a dictionary
        of every type's label, translating each, on every call: most of the trail's time went
        there."""
        try:
            return str(AuditEventType(self.event).label)
        except ValueError:
            return str(self.event)


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

    key = models.PositiveBigIntegerField(primary_key=True, verbose_name=_("key"))
    # A plain foreign key: `key` is the one unique column, because `chains_lock` resolves a race
    # to create a chain on `key` alone, and a second unique index would fail the loser instead.
    tenant = models.ForeignKey(
        "teams.Tenant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tenant"),
    )
    length = models.PositiveBigIntegerField(default=0, verbose_name=_("length"))
    head_hash = models.CharField(max_length=64, verbose_name=_("head hash"))
    checkpoint_sequence = models.PositiveBigIntegerField(
        default=0, verbose_name=_("checkpoint sequence")
    )
    checkpoint_hash = models.CharField(max_length=64, blank=True, verbose_name=_("checkpoint hash"))
    checkpoint_signature = models.CharField(
        max_length=200, blank=True, verbose_name=_("checkpoint signature")
    )
    checkpoint_at = models.DateTimeField(null=True, blank=True, verbose_name=_("checkpoint at"))

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
        "teams.Tenant",
        on_delete=models.CASCADE,
        related_name="audit_webhook",
        verbose_name=_("tenant"),
    )
    url = models.URLField(
        _("address"),
        max_length=500,
        help_text="Where each audit event is POSTed, signed (Standard Webhooks), in order.",
    )
    # The signing key must be readable to sign with; it is never shown again after it is made.
    secret = models.CharField(max_length=100, editable=False, verbose_name=_("secret"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    # Secrets, hashes and tokens: the admin refuses to filter, sort or link by them (teams.sites).
    secret_fields = frozenset({"secret"})

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit webhook")
        verbose_name_plural = _("audit webhooks")

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

    class Failure(models.TextChoices):
        """Why the last try failed, as a kind rather than an exception's text."""

        ANSWERED = "answered", "the receiver answered with an error status"
        CONNECT = "connect", "could not connect"
        TIMEOUT = "timeout", "timed out"
        TLS = "tls", "TLS certificate not valid"
        NAME = "name", "host name not found"
        ADDRESS = "address", "address not allowed"
        OTHER = "other", "other"

    destination = models.CharField(
        max_length=10, choices=Destination.choices, verbose_name=_("destination")
    )
    chain_key = models.PositiveBigIntegerField(verbose_name=_("chain key"))
    webhook = models.ForeignKey(
        AuditWebhook,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("webhook"),
    )
    delivered_sequence = models.PositiveBigIntegerField(
        default=0, verbose_name=_("delivered sequence")
    )
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    leased_until = models.DateTimeField(null=True, blank=True, verbose_name=_("leased until"))
    last_error = models.CharField(max_length=300, blank=True, verbose_name=_("last error"))
    # The failure in words for owners (`audit.selectors.delivery_status`): what kind it was
    # and, for an answer that wasn't 2xx, its status; `last_error` keeps the technical text
    # for the log. `failing_since` is the first failure of the current run of them.
    failing_since = models.DateTimeField(null=True, blank=True)
    failure_kind = models.CharField(max_length=10, choices=Failure.choices, blank=True)
    failure_status = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "chain_key"], name="audit_delivery_one_cursor"
            )
        ]
        verbose_name_plural = _("audit deliveries")

    def __str__(self) -> str:
        return f"{self.get_destination_display()} of chain {self.chain_key}"
