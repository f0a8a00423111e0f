from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    """Where people get help: the help center and account recovery requests."""

    name = "support"
    verbose_name = _("Support")
