"""Owners' pages for provisioning, in the tenant-scoped admin: tokens (made, shown once,
revoked), the directory's groups and the role each gives, and the tenant's settings. All need
`security:write` (Owners), like single sign-on's own pages."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from provisioning.models import DirectoryGroup, ProvisioningSettings, ProvisioningToken
from provisioning.services.groups import group_role_set
from provisioning.services.settings import provisioning_settings_save
from provisioning.services.tokens import TOKEN_LIFETIME, token_create, token_revoke
from teams import scopes
from teams.sites import TenantScopedAdmin

SECURITY = frozenset({scopes.SECURITY_WRITE})


class TokenForm(forms.ModelForm):
    class Meta:
        model = ProvisioningToken
        fields = ["tenant", "name", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "expires_at" in self.fields:
            self.fields["expires_at"].initial = (timezone.now() + TOKEN_LIFETIME).replace(
                microsecond=0
            )
            self.fields["expires_at"].help_text = _("A year from now unless you choose otherwise.")


@admin.register(ProvisioningToken)
class ProvisioningTokenAdmin(TenantScopedAdmin):
    """Tokens a tenant's directory provisions people with. Made here, shown once; never edited,
    only revoked."""

    form = TokenForm
    high_impact = True
    scope_permissions = {"view": SECURITY, "add": SECURITY, "change": SECURITY}
    list_display = [
        "name",
        "prefix",
        "tenant",
        "created_at",
        "expires_at",
        "last_used_at",
        "status",
    ]
    list_select_related = ["tenant"]
    list_filter = ["tenant"]
    actions = ["revoke"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    @admin.display(description=_("status"))
    def status(self, token: ProvisioningToken) -> str:
        if token.revoked_at:
            return _("revoked")
        if not token.is_usable():
            return _("expired")
        return _("active")

    def get_fields(self, request, obj=None):
        if obj is None:
            return super().get_fields(request, obj)
        return ["name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revoked, never deleted: the trail names the token, and the row says when it ended.
        return False

    def save_model(self, request, obj, form, change) -> None:
        if change:
            # A made token is never edited (its page is read-only): saving it again changes
            # nothing, and above all makes no second token.
            return
        row, token = token_create(
            tenant=obj.tenant,
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data["expires_at"],
            actor=request.user,
            request=request,
        )
        obj.pk = row.pk
        obj._state.adding = False
        request._provisioning_token_shown_once = token

    def response_add(self, request, obj, post_url_continue=None):
        token = getattr(request, "_provisioning_token_shown_once", None)
        if token is None:
            return super().response_add(request, obj, post_url_continue)
        return TemplateResponse(
            request,
            "admin/provisioning/token_created.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Provisioning token made"),
                "token": token,
                "row": ProvisioningToken.objects.get(pk=obj.pk),
                "base_url": f"{settings.SITE_URL}/scim/v2/",
                "opts": self.opts,
            },
        )

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            token_revoke(token=token, actor=request.user, request=request)
        self.message_user(request, _("Revoked."), messages.SUCCESS)

    def save_related(self, request, form, formsets, change) -> None:
        """`token_create` made the row; nothing relates to it."""


class GroupForm(forms.ModelForm):
    class Meta:
        model = DirectoryGroup
        fields = ["role"]


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(TenantScopedAdmin):
    """The groups the directory pushes, and the role each gives its members: the group → role
    mapping. The directory makes and removes groups; Owners choose their roles."""

    form = GroupForm
    high_impact = True
    scope_permissions = {"view": SECURITY, "change": SECURITY}
    list_display = ["display_name", "role", "member_count", "tenant"]
    list_select_related = ["role", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["display_name"]
    readonly_fields = ["display_name", "member_count"]
    fields = ["display_name", "member_count", "role"]

    @admin.display(description=_("members"))
    def member_count(self, group: DirectoryGroup) -> int:
        return group.members.count()

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        group_role_set(
            group=obj, role=form.cleaned_data["role"], actor=request.user, request=request
        )

    def save_related(self, request, form, formsets, change) -> None:
        """`group_role_set` saved the mapping and moved the members' roles."""


@admin.register(ProvisioningSettings)
class ProvisioningSettingsAdmin(TenantScopedAdmin):
    """Whether the directory's joiners are mailed, and whether it may manage Owners."""

    high_impact = True
    tenant_path = "tenant"
    scope_permissions = {"view": SECURITY, "add": SECURITY, "change": SECURITY}
    list_display = ["__str__", "mail_joiners", "manage_owners"]
    fields = ["tenant", "mail_joiners", "manage_owners"]

    def has_add_permission(self, request) -> bool:
        if not super().has_add_permission(request):
            return False
        return (
            self.is_operator(request)
            or not ProvisioningSettings.objects.filter(tenant_id=request.user.tenant_id).exists()
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        saved = provisioning_settings_save(
            tenant=obj.tenant,
            actor=request.user,
            mail_joiners=form.cleaned_data["mail_joiners"],
            manage_owners=form.cleaned_data["manage_owners"],
            request=request,
        )
        obj.pk = saved.pk
        obj._state.adding = False
