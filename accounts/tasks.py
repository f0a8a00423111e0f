from celery import shared_task

from accounts.outbox import outbox_due_ids, outbox_mail_send


@shared_task(ignore_result=True)
def send_outbox_mail(mail_id: int) -> None:
    outbox_mail_send(mail_id=mail_id)


@shared_task(ignore_result=True)
def sweep_outbox() -> None:
    """Send whatever is still pending and due: mails whose queueing failed or that will retry."""
    for mail_id in outbox_due_ids():
        outbox_mail_send(mail_id=mail_id)
