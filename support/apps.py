from django.apps import AppConfig


class SupportConfig(AppConfig):
    """Where people get help: the help center, account recovery requests and access reviews."""

    name = "support"
    verbose_name = "Support"
