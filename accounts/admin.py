from django.contrib import admin

from accounts.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    """People, for platform operators. Passwords are never set or shown here: people set their own
    through an emailed link."""

    list_display = ["email", "full_name", "tenant", "role", "is_active", "last_login"]
    list_filter = ["is_active", "tenant"]
    list_select_related = ["tenant", "role"]
    search_fields = ["email", "full_name"]
    fields = ["email", "full_name", "tenant", "role", "is_active", "last_login", "date_joined"]
    readonly_fields = ["last_login", "date_joined"]
