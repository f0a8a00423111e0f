import threading

import pytest
from django.db import connection, transaction

from audit.events import AuditEventType
from audit.integrity import chain_verify
from audit.models import AuditChain, AuditEvent
from audit.services import AuditEventSpec, audit_event_record, audit_events_record_bulk
from tests.factories import TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
EVENTS_PER_THREAD = 25


def run_in_threads(work) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(number: int) -> None:
        try:
            start.wait()
            work(number)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_concurrent_writers_leave_one_unbroken_chain():
    tenant = TenantFactory(name="Busy MSP")

    def record_many(number: int) -> None:
        for index in range(EVENTS_PER_THREAD):
            with transaction.atomic():
                audit_event_record(
                    event=AuditEventType.ADMIN_ACTION,
                    actor=None,
                    tenant=tenant,
                    details={"thread": number, "index": index},
                )

    assert run_in_threads(record_many) == []

    total = THREADS * EVENTS_PER_THREAD
    sequences = list(
        AuditEvent.objects.for_tenant(tenant)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, total + 1))
    chain = AuditChain.objects.get(key=tenant.pk)
    report = chain_verify(tenant=tenant, chain=chain)
    assert report.intact, report.problem
    assert report.checked == total


def test_concurrent_single_and_bulk_writers_on_a_new_chain():
    tenant = TenantFactory(name="Fresh MSP")

    def record(number: int) -> None:
        if number % 2:
            audit_events_record_bulk(
                [AuditEventSpec(event=AuditEventType.SESSION_EXPIRED, tenant=tenant)] * 40
            )
        else:
            for _ in range(10):
                audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)

    assert run_in_threads(record) == []

    chain = AuditChain.objects.get(key=tenant.pk)
    assert chain.length == 4 * 40 + 4 * 10
    assert chain_verify(tenant=tenant, chain=chain).intact


def test_recording_again_onto_a_head_this_process_wrote_takes_one_query(
    django_assert_num_queries,
):
    tenant = TenantFactory(name="Steady MSP")
    audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)

    with transaction.atomic(), django_assert_num_queries(1):
        second = audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)

    assert second.sequence == 2
    assert AuditEvent.objects.get(pk=second.pk).hash == second.hash
    chain = AuditChain.objects.get(key=tenant.pk)
    assert (chain.length, chain.head_hash) == (2, second.hash)
    assert chain_verify(tenant=tenant, chain=chain).intact


def test_a_head_moved_elsewhere_or_rolled_back_is_linked_onto_all_the_same():
    tenant = TenantFactory(name="Shared MSP")
    audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
    audit_events_record_bulk([AuditEventSpec(event=AuditEventType.SESSION_EXPIRED, tenant=tenant)])
    after_bulk = audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
        raise RuntimeError("the change failed")
    after_rollback = audit_event_record(
        event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant
    )

    assert (after_bulk.sequence, after_rollback.sequence) == (3, 4)
    chain = AuditChain.objects.get(key=tenant.pk)
    assert (chain.length, chain.head_hash) == (4, after_rollback.hash)
    assert chain_verify(tenant=tenant, chain=chain).intact
