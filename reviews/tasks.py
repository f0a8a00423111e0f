from celery import shared_task

from reviews import services


@shared_task(ignore_result=True)
def send_access_review_summaries() -> None:
    services.access_review_summaries_send()
