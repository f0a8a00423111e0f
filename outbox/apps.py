from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The mail outbox: every mail is a row written with the change that caused it."""

    name = "outbox"
    verbose_name = "Mail outbox"
