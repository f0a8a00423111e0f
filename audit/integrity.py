"""Checking the hash chains: every event matches its hash, and every chain is whole."""

from collections.abc import Callable
from dataclasses import dataclass

from django.core import signing

from audit.chain import GENESIS_HASH, chain_key, event_hash
from audit.models import AuditChain, AuditEvent
from audit.services import CHECKPOINT_SALT
from teams.models import Tenant

VERIFY_CHUNK_SIZE = 5000
VERIFIED_FIELDS = (
    "id",
    "sequence",
    "hash",
    "tenant_id",
    "event",
    "created_at",
    "actor_id",
    "actor_label",
    "target_id",
    "target_label",
    "ip",
    "user_agent",
    "details",
)


@dataclass(frozen=True)
class ChainReport:
    label: str
    checked: int
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def chain_label(tenant: Tenant | None) -> str:
    return f"tenant {tenant.slug}" if tenant else "platform events"


def chains_to_verify(*, tenant: Tenant | None = None) -> list[tuple[Tenant | None, AuditChain]]:
    """Each chain with its tenant; a chain whose events exist but whose head is gone comes back
    as an unsaved, empty head, which then fails verification."""
    if tenant is not None:
        tenants: list[Tenant | None] = [tenant]
    else:
        tenants = [None, *Tenant.objects.order_by("slug")]
    heads = {chain.key: chain for chain in AuditChain.objects.all()}
    chains = []
    for each in tenants:
        key = chain_key(each.pk if each else None)
        head = heads.get(key)
        if head is None:
            if not AuditEvent.objects.filter(tenant=each).exists():
                continue
            head = AuditChain(key=key, tenant=each, length=0, head_hash=GENESIS_HASH)
        chains.append((each, head))
    return chains


def _checkpoint_problem(chain: AuditChain) -> str | None:
    if not chain.checkpoint_sequence:
        return None
    expected = f"{chain.key}:{chain.checkpoint_sequence}:{chain.checkpoint_hash}"
    try:
        signed = signing.Signer(salt=CHECKPOINT_SALT).unsign(chain.checkpoint_signature)
    except signing.BadSignature:
        signed = None
    if signed != expected:
        return (
            f"the retention checkpoint at sequence {chain.checkpoint_sequence} is not signed "
            "with this site's SECRET_KEY: it was forged or changed"
        )
    return None


def chain_verify(
    *,
    tenant: Tenant | None,
    chain: AuditChain,
    progress: Callable[[int], None] | None = None,
) -> ChainReport:
    """Walk one chain from its start (or retention checkpoint) to its head.

    Stops at the first event that doesn't match: a sequence gap (an event removed), or a hash
    that isn't the hash of its content and the previous hash (an event changed, or one before
    it). Then checks the head against the last event, which shows events cut off the end.
    """
    label = chain_label(tenant)
    problem = _checkpoint_problem(chain)
    if problem:
        return ChainReport(label=label, checked=0, problem=problem)
    previous_hash = chain.checkpoint_hash if chain.checkpoint_sequence else GENESIS_HASH
    expected_sequence = chain.checkpoint_sequence + 1
    rows = (
        AuditEvent.objects.filter(tenant=tenant)
        .order_by("sequence")
        .values_list(*VERIFIED_FIELDS)
        .iterator(chunk_size=VERIFY_CHUNK_SIZE)
    )
    checked = 0
    for row in rows:
        (pk, sequence, stored_hash, tenant_id, event, created_at, actor_id, actor_label) = row[:8]
        target_id, target_label, ip, user_agent, details = row[8:]
        name = f"event #{pk} (sequence {sequence}, {created_at:%Y-%m-%d %H:%M:%S} UTC)"
        if sequence != expected_sequence:
            return ChainReport(
                label=label,
                checked=checked,
                problem=f"{name} follows sequence {expected_sequence - 1}: "
                "the events between were removed",
            )
        computed = event_hash(
            previous_hash=previous_hash,
            tenant_id=tenant_id,
            sequence=sequence,
            event=event,
            created_at=created_at,
            actor_id=actor_id,
            actor_label=actor_label,
            target_id=target_id,
            target_label=target_label,
            ip=ip,
            user_agent=user_agent,
            details=details,
        )
        if computed != stored_hash:
            return ChainReport(
                label=label,
                checked=checked,
                problem=f"{name} does not match its hash: it, or the link before it, was changed",
            )
        previous_hash = stored_hash
        expected_sequence += 1
        checked += 1
        if progress is not None and checked % VERIFY_CHUNK_SIZE == 0:
            progress(checked)
    if progress is not None:
        progress(checked)
    last_sequence = expected_sequence - 1
    if last_sequence != chain.length or previous_hash != chain.head_hash:
        return ChainReport(
            label=label,
            checked=checked,
            problem=f"the chain ends at sequence {last_sequence} but its head says "
            f"{chain.length}: events were removed from its end",
        )
    return ChainReport(label=label, checked=checked)
