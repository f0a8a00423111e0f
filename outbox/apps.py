from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The mail outbox: every mail is a row written with the change that caused it."""

    name = "outbox"
    verbose_name = "Mail outbox"

    def ready(self) -> None:
        from audit import checkpoints
        from outbox import services

        checkpoints.chain_break_listener_register(services.audit_chain_broken_mail)
