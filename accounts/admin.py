from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from accounts.models import User
from accounts.selectors import UNLOCK_SCOPE
from accounts.services import lockout_unlock, person_invite


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
    actions = ["unlock"]

    def save_model(self, request, obj: User, form, change: bool) -> None:
        """Adding a person invites them: they get a link to choose their own password."""
        if change:
            super().save_model(request, obj, form, change)
            return
        invited = person_invite(
            tenant=obj.tenant,
            email=obj.email,
            role=obj.role,
            full_name=obj.full_name,
            actor=request.user,
        )
        obj.pk = invited.pk
        obj._state.adding = False

    def has_unlock_permission(self, request) -> bool:
        return request.user.has_perm(UNLOCK_SCOPE)

    @admin.action(
        description="Unlock selected people (after failed sign-ins)", permissions=["unlock"]
    )
    def unlock(self, request, queryset) -> None:
        unlocked = []
        try:
            for person in queryset:
                if lockout_unlock(user=person, actor=request.user, request=request):
                    unlocked.append(person.email)
        except PermissionDenied as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return
        if unlocked:
            self.message_user(request, f"Unlocked: {', '.join(unlocked)}.", messages.SUCCESS)
        else:
            self.message_user(request, "None of them was locked.", messages.INFO)
