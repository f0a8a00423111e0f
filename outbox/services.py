"""The mail outbox: every outgoing mail is a row first, and is sent from the row after commit."""

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from celery import Task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from outbox import tasks
from outbox.models import OutboxMail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 30


def mail_enqueue(*, to: str, kind: str, context: dict) -> OutboxMail:
    """Write a mail to the outbox inside the caller's transaction and send it once that commits.

    `kind` names the templates `mail/<kind>.subject.txt`, `mail/<kind>.txt` and
    `mail/<kind>.html`. They are rendered now, so the mail says what was true at the change.
    """
    context = {**context, "SITE_URL": settings.SITE_URL}
    mail = OutboxMail.objects.create(
        kind=kind,
        to=to,
        subject=" ".join(_render_plain(f"mail/{kind}.subject.txt", context).split()),
        body_text=_render_plain(f"mail/{kind}.txt", context),
        body_html=render_to_string(f"mail/{kind}.html", context),
    )
    task_queue_on_commit(tasks.send_outbox_mail, mail.pk)
    return mail


def audit_chain_broken_mail(*, label: str, problem: str, found_at: datetime) -> None:
    """Tell every operator (active superuser with an address) that an audit chain broke;
    registered with audit's hourly check in `OutboxConfig.ready()`."""
    operators = get_user_model().objects.filter(is_active=True, is_superuser=True).exclude(email="")
    for email in operators.order_by("pk").values_list("email", flat=True):
        mail_enqueue(
            to=email,
            kind="audit_chain_broken",
            context={"label": label, "problem": problem, "found_at": found_at},
        )


def _render_plain(template_name: str, context: dict) -> str:
    """Render a plain-text template without HTML escaping: a subject or text body is not HTML,
    so "can't" must stay "can't", not become "can&#x27;t"."""
    return get_template(template_name).template.render(Context(context, autoescape=False))


def task_queue_on_commit(task: Task, *args) -> None:
    """Queue a task once the current transaction commits, without ever failing the request.

    The task's work is already a committed row (an outbox mail, a reset request) that a beat
    sweep picks up, so a broker that is down only delays it. Publishing gives up within a couple
    of seconds (CELERY_TASK_PUBLISH_RETRY_POLICY and the broker timeouts in settings).
    """
    transaction.on_commit(lambda: _queue(task, *args))


def _queue(task: Task, *args) -> None:
    try:
        task.delay(*args)
    except Exception as error:  # noqa: BLE001 - whatever the broker says, the sweep runs it later
        logger.warning("Could not queue %s%r (%s); the sweep will run it", task.name, args, error)


def outbox_mail_send(*, mail_id: int) -> bool:
    """Send one pending mail if it is due. True when it went out now.

    The row stays locked while it is sent, and another sender skips a locked row, so a worker
    and the sweep racing for the same mail send it once; a sent row is never pending again.
    (SQLite has no row locks; there each transaction holds the database, see settings.)
    A failed attempt is retried by the sweep after an exponential backoff: 30 s, 1, 2, 4 ...
    minutes, until MAX_ATTEMPTS, when the mail is marked failed.

    A sender killed mid-send (SIGKILL, a lost machine) leaves the row pending, its transaction
    rolled back with its database connection, and the sweep sends the mail again. So the row is
    marked sent, and committed, as soon as the relay has accepted the message and before the
    connection's QUIT: a relay that accepted and then hangs up slowly is not sent the mail twice.
    What is left is the moment between the relay's acceptance and the commit; a mail resent from
    there keeps its Message-ID (`message_id`), by which relays and mail clients drop a copy.
    """
    relay = get_connection()
    try:
        with transaction.atomic():
            mail = (
                OutboxMail.objects.select_for_update(skip_locked=True)
                .filter(
                    pk=mail_id,
                    status=OutboxMail.Status.PENDING,
                    next_attempt_at__lte=timezone.now(),
                )
                .first()
            )
            if mail is None:
                return False
            message = EmailMultiAlternatives(
                subject=mail.subject,
                body=mail.body_text,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[mail.to],
                headers={"Message-ID": message_id(mail)},
                connection=relay,
            )
            if mail.body_html:
                message.attach_alternative(mail.body_html, "text/html")
            mail.attempts += 1
            try:
                # Opened here, so sending leaves the connection open and QUIT waits for the commit.
                relay.open()
                message.send()
            except Exception as error:  # noqa: BLE001 - any delivery error means "try again later"
                mail.last_error = f"{type(error).__name__}: {error}"[:500]
                if mail.attempts >= MAX_ATTEMPTS:
                    mail.status = OutboxMail.Status.FAILED
                else:
                    delay = RETRY_BASE_SECONDS * 2 ** (mail.attempts - 1)
                    mail.next_attempt_at = timezone.now() + timedelta(seconds=delay)
                mail.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
                logger.warning(
                    "Outbox mail %s failed (attempt %s): %s", mail.pk, mail.attempts, error
                )
                return False
            mail.status = OutboxMail.Status.SENT
            mail.sent_at = timezone.now()
            mail.last_error = ""
            mail.save(update_fields=["attempts", "status", "sent_at", "last_error"])
            return True
    finally:
        relay.close()


def message_id(mail: OutboxMail) -> str:
    """The same Message-ID for every attempt at one outbox row, whichever node sends it."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<outbox.{mail.pk}.{int(mail.created_at.timestamp())}@{host}>"


def outbox_due_ids() -> list[int]:
    return list(
        OutboxMail.objects.filter(
            status=OutboxMail.Status.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:500]
    )
