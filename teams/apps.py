from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class TeamsConfig(AppConfig):
    name = "teams"
    verbose_name = _("Teams")

    def ready(self) -> None:
        from audit.views import export_guard_register
        from teams import receivers  # noqa: F401 - connects the signal receivers
        from teams.proofs import high_impact_proof_demand

        export_guard_register(high_impact_proof_demand)


class PortcullisAdminConfig(admin_apps.AdminConfig):
    """Django's admin, served by the tenant-aware site in `teams.sites`."""

    default = False
    default_site = "teams.sites.PortcullisAdminSite"

    def ready(self) -> None:
        super().ready()
        from django.contrib.admin.templatetags import admin_list

        from teams.sites import boolean_icon

        # Django names its yes/no icons by the Python value (alt="True"), which a screen reader
        # reads out in English in every language; the admin's lists and read-only fields all
        # look the function up in this module when they draw one.
        admin_list._boolean_icon = boolean_icon
