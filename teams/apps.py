from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class TeamsConfig(AppConfig):
    name = "teams"
    verbose_name = "Teams"

    def ready(self) -> None:
        from teams import receivers  # noqa: F401 - connects the signal receivers


class PortcullisAdminConfig(admin_apps.AdminConfig):
    """Django's admin, served by the tenant-aware site in `teams.sites`."""

    default = False
    default_site = "teams.sites.PortcullisAdminSite"
