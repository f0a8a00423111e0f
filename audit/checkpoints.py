"""Signed checkpoints: the hourly check of what is new in each chain, and its alert on a break.

Every hour beat checks each chain from its last checkpoint to its head (audit/integrity.py),
so the work follows the events recorded since, not the size of the log. An intact chain gets a
new checkpoint at the head just verified: its sequence, hash, how many events the chain holds
and when, signed with the audit chain key. A broken chain gets no checkpoint (so the next run
finds the break again) and raises one AUDIT_CHAIN_BROKEN event on the platform chain, and a
mail to the operators through whoever registered to send it (the outbox, in its
`AppConfig.ready()`: audit sits below it). The same break is raised once, not every hour.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit import services
from audit.chain import current_chain_key, verified_checkpoint_signature
from audit.events import AuditEventType
from audit.integrity import ChainReport, chains_to_verify, chains_verify
from audit.models import AuditChain, AuditCheckpoint, AuditEvent
from teams.models import Tenant

# Older checkpoints are pruned (each chain keeps its newest, however old): only the newest is
# where a check starts; a week of them shows when a chain was last seen whole.
CHECKPOINT_KEEP_DAYS = 7

ChainBreakListener = Callable[..., None]
_break_listeners: list[ChainBreakListener] = []


def chain_break_listener_register(listener: ChainBreakListener) -> None:
    """Call `listener(label=, problem=, found_at=)` inside the transaction that records a newly
    found break (a higher layer's mail to operators)."""
    if listener not in _break_listeners:
        _break_listeners.append(listener)


def checkpoint_make(
    *, chain: AuditChain, report: ChainReport, recorded_at: datetime, reason: str
) -> AuditCheckpoint:
    """An unsaved checkpoint at the head `report` verified, signed with the current key."""
    fields = {
        "chain": chain.key,
        "sequence": report.last_sequence,
        "hash": report.last_hash,
        "events": report.last_sequence - chain.checkpoint_sequence,
        "recorded_at": recorded_at,
        "reason": reason,
    }
    signature = verified_checkpoint_signature(key=current_chain_key(), **fields)
    return AuditCheckpoint(chain_key=fields.pop("chain"), **fields, signature=signature)


def _needs_checkpoint(report: ChainReport) -> bool:
    if not report.intact or report.last_sequence == 0:
        return False
    return not (report.from_checkpoint and report.last_sequence == report.started_at)


def audit_chains_checkpoint(*, now: datetime | None = None) -> list[ChainReport]:
    """Check every chain since its last checkpoint; sign a checkpoint at each intact chain's
    head and raise an alert for each newly broken one. Returns the reports.

    The check runs outside any transaction (in a process per core on a large log); the writes
    after it are one short transaction.
    """
    now = now or timezone.now()
    chains = chains_to_verify()
    reports = chains_verify(chains, full=False)
    checkpoints = [
        checkpoint_make(chain=chain, report=report, recorded_at=now, reason="verified")
        for (_, chain), report in zip(chains, reports, strict=True)
        if _needs_checkpoint(report) and chain.pk
    ]
    with transaction.atomic():
        AuditCheckpoint.objects.bulk_create(checkpoints, batch_size=5000)
        newest = (
            AuditCheckpoint.objects.values("chain_key")
            .annotate(newest=Max("id"))
            .values_list("newest", flat=True)
        )
        AuditCheckpoint.objects.filter(
            recorded_at__lt=now - timedelta(days=CHECKPOINT_KEEP_DAYS)
        ).exclude(id__in=newest).delete()
        for report in reports:
            if not report.intact:
                _break_raise(report=report, now=now)
    return reports


def _break_raise(*, report: ChainReport, now: datetime) -> None:
    already = AuditEvent.objects.filter(
        tenant=None,
        event=AuditEventType.AUDIT_CHAIN_BROKEN,
        details__chain=report.label,
        details__problem=report.problem,
    ).exists()
    if already:
        return
    services.audit_event_record(
        event=AuditEventType.AUDIT_CHAIN_BROKEN,
        actor=None,
        tenant=None,
        details={"chain": report.label, "problem": report.problem},
    )
    for listener in _break_listeners:
        listener(label=report.label, problem=report.problem, found_at=now)


def retention_cut_checkpoint(*, tenant: Tenant, now: datetime) -> AuditCheckpoint | None:
    """At a retention cut: check the tenant's chain since its last checkpoint and, if intact,
    sign one at its head (a broken chain is left for the hourly check to raise)."""
    chain = AuditChain.objects.get(key=tenant.pk)
    report = chains_verify([(tenant, chain)], full=False)[0]
    if not report.intact or report.last_sequence == 0:
        return None
    checkpoint = checkpoint_make(chain=chain, report=report, recorded_at=now, reason="retention")
    checkpoint.save(force_insert=True)
    return checkpoint
