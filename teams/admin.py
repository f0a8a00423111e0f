from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import Count

from audit.devices import device_from_user_agent
from teams import scopes
from teams.forms import RoleForm
from teams.models import Role, Tenant, UserSession
from teams.rules import is_above
from teams.services.roles import (
    TENANT_POLICY_FIELDS,
    role_create,
    role_delete,
    role_update,
    tenant_policy_update,
)
from teams.services.sessions import session_revoke
from teams.sites import TenantScopedAdmin

# Scopes come from roles, not Django groups; a Groups page would only mislead.
admin.site.unregister(Group)


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """A tenant's security policy. Owners (`security:write`) change their own tenant's; people
    who read members see it. Tenants are made with `create_tenant`, never here."""

    scope_permissions = {
        "view": frozenset({scopes.MEMBERS_READ, scopes.SECURITY_WRITE}),
        "change": frozenset({scopes.SECURITY_WRITE}),
    }
    list_display = ["name", "slug", "people_count", "created_at"]
    search_fields = ["name", "slug"]
    ordering = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "created_at"]}),
        (
            "Sign-in",
            {
                "fields": [
                    "require_mfa",
                    "password_max_age_days",
                    "password_history_count",
                    "breached_password_check_at_sign_in",
                ]
            },
        ),
        (
            "Sessions",
            {"fields": ["idle_timeout_minutes", "session_lifetime_minutes", "max_sessions"]},
        ),
        ("Accounts", {"fields": ["deactivate_after_days"]}),
        ("Audit", {"fields": ["audit_retention_months", "alert_owners_on_unusual_sign_in"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(people_count=Count("people"))

    @admin.display(description="people", ordering="people_count")
    def people_count(self, tenant: Tenant) -> int:
        return tenant.people_count

    def get_readonly_fields(self, request, obj=None):
        if self.is_operator(request):
            return ["slug", "created_at"]
        return ["name", "slug", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        allowed = {*TENANT_POLICY_FIELDS, "name"}
        tenant_policy_update(
            tenant=obj,
            actor=request.user,
            values={name: form.cleaned_data[name] for name in form.changed_data if name in allowed},
            request=request,
        )


@admin.register(Role)
class RoleAdmin(TenantScopedAdmin):
    """Roles of a tenant. Owners (`roles:write`) make custom roles from the scope catalogue and
    set each role's session limits; built-in roles keep their name and scopes."""

    form = RoleForm
    scope_permissions = {
        "view": frozenset({scopes.MEMBERS_READ, scopes.MEMBERS_WRITE, scopes.ROLES_WRITE}),
        "add": frozenset({scopes.ROLES_WRITE}),
        "change": frozenset({scopes.ROLES_WRITE}),
        "delete": frozenset({scopes.ROLES_WRITE}),
    }
    list_display = [
        "name",
        "tenant",
        "is_builtin",
        "scope_count",
        "people_count",
        "idle_timeout_minutes",
        "session_lifetime_minutes",
        "max_sessions",
    ]
    list_filter = ["is_builtin", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["name"]
    ordering = ["tenant__name", "name"]
    fields = [
        "tenant",
        "name",
        "scopes",
        "scope_list",
        "require_mfa",
        "idle_timeout_minutes",
        "session_lifetime_minutes",
        "max_sessions",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(people_count=Count("people"))

    @admin.display(description="people", ordering="people_count")
    def people_count(self, role: Role) -> int:
        return role.people_count

    @admin.display(description="scopes")
    def scope_count(self, role: Role) -> int:
        return len(role.scope_set)

    @admin.display(description="scopes")
    def scope_list(self, role: Role) -> str:
        return ", ".join(sorted(role.scope_set)) or "None: their own account only"

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and obj.is_builtin:
            return [name for name in fields if name != "scopes"]
        return [name for name in fields if name != "scope_list"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = ["tenant"]
        if obj.is_builtin:
            readonly += ["name", "scope_list"]
        return readonly

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not is_above(
            actor=request.user, role=obj
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj) and not is_above(
            actor=request.user, role=obj
        )

    def save_model(self, request, obj, form, change) -> None:
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            role_update(role=obj, actor=request.user, values=values, request=request)
            return
        fields = [name for name in form.fields if name != "tenant"]
        created = role_create(
            tenant=obj.tenant,
            actor=request.user,
            values={name: form.cleaned_data[name] for name in fields},
            request=request,
        )
        obj.pk, obj._state.adding = created.pk, False

    def delete_model(self, request, obj) -> None:
        role_delete(role=obj, actor=request.user, request=request)


@admin.register(UserSession)
class UserSessionAdmin(TenantScopedAdmin):
    """Who is signed in where. People with `sessions:revoke` end sessions; nothing else is
    editable, since rows follow sign-ins and sign-outs."""

    scope_permissions = {
        "view": frozenset({scopes.MEMBERS_READ, scopes.SESSIONS_REVOKE}),
        "revoke": frozenset({scopes.SESSIONS_REVOKE}),
    }
    list_display = ["user", "tenant", "device", "ip", "started_at", "last_active_at"]
    list_filter = ["tenant", "user"]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__email", "ip"]
    fields = ["user", "tenant", "device", "user_agent", "ip", "started_at", "last_active_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="device")
    def device(self, session: UserSession) -> str:
        return str(device_from_user_agent(session.user_agent))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "revoke")

    @admin.action(description="End the selected sessions", permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        self.run_for_each(
            request,
            queryset.select_related("user__role", "user__tenant"),
            lambda session: session_revoke(
                session=session,
                actor=request.user,
                reason="revoked by an administrator",
                request=request,
            ),
            lambda count: f"Ended {count} sessions.",
        )
