from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    """The mail outbox: every mail is a row written with the change that caused it."""

    name = "outbox"
    verbose_name = _("Mail outbox")

    def ready(self) -> None:
        from audit import checkpoints
        from outbox import services

        checkpoints.chain_break_listener_register(services.audit_chain_broken_mail)
