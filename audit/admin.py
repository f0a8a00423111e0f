from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from audit.events import REFUSAL_EVENTS
from audit.models import AuditEvent


class OutcomeFilter(admin.SimpleListFilter):
    """ "Refused access only": the refused requests of audit/refusals.py, all kinds together."""

    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("refused", _("Refused access only"))]

    def queryset(self, request, queryset):
        if self.value() == "refused":
            return queryset.filter(event__in=REFUSAL_EVENTS)
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by the application alone."""

    list_display = ["created_at", "event", "tenant", "actor_label", "target_label", "ip"]
    list_filter = [OutcomeFilter, "event", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["actor_label", "target_label", "ip"]
    # Counting every event of a large log on each list page would be the slowest part of it.
    show_full_result_count = False
    fields = [
        "created_at",
        "event",
        "tenant",
        "actor_label",
        "target_label",
        "ip",
        "user_agent",
        "details",
        "sequence",
        "hash",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
