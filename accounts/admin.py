from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User
from accounts.selectors import UNLOCK_SCOPE
from accounts.services import lockout_unlock, person_invite
from mfa.selectors import proof_is_fresh
from mfa.services import mfa_factors_reset


@admin.action(description="Reset two-factor authentication", permissions=["mfa_reset"])
def reset_mfa(modeladmin: admin.ModelAdmin, request, queryset) -> None:
    """Remove the selected people's second factors (they enrol again); needs a fresh password."""
    if not proof_is_fresh(request=request):
        query = urlencode({"next": request.get_full_path()})
        confirm_url = f"{reverse('mfa:reauthenticate')}?{query}"
        modeladmin.message_user(
            request,
            format_html(
                'Resetting factors needs your password first: <a href="{}">confirm it</a>, '
                "then run the action again.",
                confirm_url,
            ),
            messages.ERROR,
        )
        return
    for person in queryset:
        try:
            reset = mfa_factors_reset(target=person, actor=request.user, request=request)
        except (PermissionDenied, ValidationError) as error:
            message = " ".join(getattr(error, "messages", [str(error)]))
            modeladmin.message_user(request, f"{person}: {message}", messages.ERROR)
            continue
        if reset:
            modeladmin.message_user(
                request, f"{person}: two-factor authentication reset; they were mailed."
            )
        else:
            modeladmin.message_user(
                request, f"{person} had no second factor to reset.", messages.WARNING
            )


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
    actions = [reset_mfa, "unlock"]

    def has_mfa_reset_permission(self, request) -> bool:
        return request.user.has_perm("mfa:reset")

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
