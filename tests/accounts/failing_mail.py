from smtplib import SMTPServerDisconnected

from django.core.mail.backends.base import BaseEmailBackend


class FailingBackend(BaseEmailBackend):
    """An SMTP relay that is down."""

    def send_messages(self, email_messages):
        raise SMTPServerDisconnected("relay is down")
