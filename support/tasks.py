from celery import shared_task

from support.services import access_review_summaries_send, recovery_requests_expire


@shared_task(ignore_result=True)
def expire_recovery_requests() -> None:
    recovery_requests_expire()


@shared_task(ignore_result=True)
def send_access_review_summaries() -> None:
    access_review_summaries_send()
