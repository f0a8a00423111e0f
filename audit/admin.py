from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by the application alone."""

    list_display = ["created_at", "event", "tenant", "actor_label", "target_label", "ip"]
    list_filter = ["event", "tenant"]
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
