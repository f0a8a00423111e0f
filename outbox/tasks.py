from celery import shared_task

# The module, not its functions: `outbox.services` queues these tasks, so each module refers to
# the other only when called.
from outbox import services


@shared_task(ignore_result=True)
def send_outbox_mail(mail_id: int) -> None:
    services.outbox_mail_send(mail_id=mail_id)


@shared_task(ignore_result=True)
def sweep_outbox() -> None:
    """Send whatever is still pending and due: mails whose queueing failed or that will retry."""
    for mail_id in services.outbox_due_ids():
        services.outbox_mail_send(mail_id=mail_id)
