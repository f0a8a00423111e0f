from django.apps import AppConfig


class SupportConfig(AppConfig):
    """Where people get help: the help center and account recovery requests."""

    name = "support"
    verbose_name = "Support"
