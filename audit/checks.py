"""System checks for where the audit log is kept."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def audit_log_shipped_off_machine(app_configs, **kwargs) -> list:
    if settings.AUDIT_SYSLOG_URL:
        return []
    return [
        Warning(
            "AUDIT_SYSLOG_URL is not set: the operator's audit log is kept only in this site's "
            "database, where whoever takes over the machine can delete or rewrite it.",
            hint="Set AUDIT_SYSLOG_URL to a syslog receiver on another machine (tcp:// or "
            "tls://, see docs/audit.md). Tenants' webhooks are each MSP's own copy, not the "
            "operator's.",
            id="audit.W001",
        )
    ]
