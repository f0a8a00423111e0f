from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from audit.client import client_ip
from audit.devices import device_from_user_agent
from teams import scopes
from teams.forms import (
    AccessListEntryForm,
    AccessListExceptionForm,
    RoleForm,
    TenantCreateForm,
    TenantForm,
)
from teams.models import AccessListEntry, AccessListException, Role, Tenant, UserSession
from teams.proofs import proof_is_fresh, proof_page_url
from teams.rules import is_above
from teams.services.access_list import (
    access_list_change_excludes,
    access_list_entry_delete,
    access_list_entry_save,
    access_list_exception_delete,
    access_list_exception_save,
    access_list_exempts,
    access_list_switch,
    excludes_actor_message,
)
from teams.services.roles import (
    TENANT_POLICY_FIELDS,
    role_create,
    role_delete,
    role_update,
    tenant_policy_update,
)
from teams.services.sessions import session_revoke
from teams.services.tenants import tenant_onboard
from teams.sites import ReadOnlyScopedAdmin, TenantScopedAdmin

# Scopes come from roles, not Django groups; a Groups page would only mislead.
admin.site.unregister(Group)


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """A tenant's security policy. Owners (`security:write`) change their own tenant's; people
    who read members see it. Operators make tenants here, through the service `create_tenant`
    calls (name and first Owner); nobody else adds one."""

    form = TenantForm
    high_impact = True
    scope_permissions = {
        "view": frozenset({scopes.MEMBERS_READ, scopes.SECURITY_WRITE}),
        "change": frozenset({scopes.SECURITY_WRITE}),
    }
    list_display = ["name", "slug", "people_count", "access_list_enabled", "created_at"]
    search_fields = ["name", "slug"]
    ordering = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "created_at"]}),
        (
            _("Sign-in"),
            {
                "fields": [
                    "require_mfa",
                    "passwordless_sign_in",
                    "password_max_age_days",
                    "password_history_count",
                    "breached_password_check_at_sign_in",
                    "remember_browser_days",
                ]
            },
        ),
        (
            _("Sessions"),
            {"fields": ["idle_timeout_minutes", "session_lifetime_minutes", "max_sessions"]},
        ),
        (_("Accounts"), {"fields": ["deactivate_after_days"]}),
        (_("Audit"), {"fields": ["audit_retention_months", "alert_owners_on_unusual_sign_in"]}),
        (
            _("IP access list"),
            {
                "fields": ["access_list_enabled", "access_list_exempt_owner", "confirm_exclusion"],
                "description": _(
                    "Which networks people may sign in from is edited under “IP access list”; "
                    "switching it on here enforces it at sign-in and on every request."
                ),
            },
        ),
    ]

    add_fieldsets = [(None, {"fields": ["name", "owner_email", "owner_full_name", "slug"]})]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TenantCreateForm
            kwargs["fields"] = None
        return with_client_address(super().get_form(request, obj, change, **kwargs), request)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(people_count=Count("people"))

    @admin.display(description=_("people"), ordering="people_count")
    def people_count(self, tenant: Tenant) -> int:
        return tenant.people_count

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if self.is_operator(request):
            return ["slug", "created_at", "access_list_exempt_owner"]
        return ["name", "slug", "created_at", "access_list_exempt_owner"]

    def has_add_permission(self, request) -> bool:
        return self.is_operator(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        self.message_user(
            request,
            _(
                "Made %(name)s (slug %(slug)s) with its built-in roles: a link to choose a "
                "password is on its way to its Owner, %(email)s."
            )
            % {"name": obj.name, "slug": obj.slug, "email": obj.people.get().email},
            messages.SUCCESS,
        )
        return redirect(reverse("admin:teams_tenant_change", args=[obj.pk]))

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            created = tenant_onboard(
                name=form.cleaned_data["name"],
                owner_email=form.cleaned_data["owner_email"],
                owner_full_name=form.cleaned_data["owner_full_name"],
                slug=form.cleaned_data["slug"],
                actor=request.user,
                request=request,
            )
            obj.pk, obj.slug, obj._state.adding = created.pk, created.slug, False
            return
        allowed = {*TENANT_POLICY_FIELDS, "name"}
        tenant_policy_update(
            tenant=obj,
            actor=request.user,
            values={name: form.cleaned_data[name] for name in form.changed_data if name in allowed},
            request=request,
        )
        if "access_list_enabled" in form.changed_data:
            access_list_switch(
                tenant=obj,
                enabled=form.cleaned_data["access_list_enabled"],
                actor=request.user,
                request=request,
                confirm_exclusion=bool(form.cleaned_data.get("confirm_exclusion")),
            )


def with_client_address(form, request):
    """The admin's form class, knowing the address the person saves from (for the guard
    against shutting oneself out)."""
    return type(form.__name__, (form,), {"client_address": client_ip(request)})


class AccessListAdminMixin:
    """What the IP access list's two pages share: Owners (`security:write`) alone see and edit
    them, every save goes through a service (audited), and deleting a row that would shut out
    the deleting person's own address asks them to tick that they understand."""

    scope_permissions = {
        action: frozenset({scopes.SECURITY_WRITE}) for action in ("view", "add", "change", "delete")
    }
    delete_confirmation_template = "admin/teams/access_list_delete_confirmation.html"
    change_list_template = "admin/teams/access_list_change_list.html"

    def changelist_view(self, request, extra_context=None):
        """Say at the top whether the list is enforced: entries alone change nothing while the
        tenant's switch is off. Operators, who see every tenant's rows, read it per tenant on
        the tenants list."""
        tenant = request.user.tenant
        context = {
            **(extra_context or {}),
            "access_list_tenant": tenant,
            "access_list_enforced": tenant is not None and tenant.access_list_enabled,
        }
        return super().changelist_view(request, context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        return with_client_address(super().get_form(request, obj, change, **kwargs), request)

    def save_related(self, request, form, formsets, change) -> None:
        """The service saved the row's relations with it."""

    @staticmethod
    def exclusion_confirmed(request, form=None) -> bool:
        """Whether the person ticked "I understand" (the form's box, or the delete page's)."""
        if form is not None:
            return bool(form.cleaned_data.get("confirm_exclusion"))
        return bool(request.POST.get("confirm_exclusion"))

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        ip = client_ip(request)
        excludes = access_list_change_excludes(
            actor=request.user,
            ip=ip,
            change=lambda: type(obj).objects.filter(pk=obj.pk).delete(),
        )
        if excludes and request.method == "POST" and not request.POST.get("confirm_exclusion"):
            self.message_user(
                request,
                excludes_actor_message(actor=request.user) % {"ip": ip or gettext("unknown")},
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        context = {
            **(extra_context or {}),
            "excludes_you": excludes,
            "exempt_owner": excludes and access_list_exempts(actor=request.user),
            "client_address": ip,
        }
        return super().delete_view(request, object_id, context)


@admin.register(AccessListEntry)
class AccessListEntryAdmin(AccessListAdminMixin, TenantScopedAdmin):
    """The tenant's allowed networks: a range and a label each, for everybody or for chosen
    roles. The list is enforced while the tenant's “enforce the IP access list” is on."""

    form = AccessListEntryForm
    list_display = ["label", "network", "tenant", "role_names", "created_at"]
    list_filter = ["tenant", "roles"]
    list_select_related = ["tenant"]
    search_fields = ["label", "network"]
    fields = ["tenant", "network", "label", "roles", "confirm_exclusion"]
    filter_horizontal = ["roles"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description=_("roles"))
    def role_names(self, entry: AccessListEntry) -> str:
        return ", ".join(role.label for role in entry.roles.all()) or gettext("Everybody")

    def save_model(self, request, obj, form, change) -> None:
        access_list_entry_save(
            entry=obj,
            roles=form.cleaned_data.get("roles") or [],
            actor=request.user,
            request=request,
            confirm_exclusion=self.exclusion_confirmed(request, form),
        )

    def delete_model(self, request, obj) -> None:
        access_list_entry_delete(
            entry=obj,
            actor=request.user,
            request=request,
            confirm_exclusion=self.exclusion_confirmed(request),
        )


@admin.register(AccessListException)
class AccessListExceptionAdmin(AccessListAdminMixin, TenantScopedAdmin):
    """People who may sign in from anywhere for a while, whatever the list says."""

    form = AccessListExceptionForm
    list_display = ["user", "tenant", "expires_at", "is_live", "reason"]
    list_filter = ["tenant"]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__email", "reason"]
    fields = ["tenant", "user", "expires_at", "reason", "confirm_exclusion"]
    autocomplete_fields = ["user"]

    @admin.display(description=_("in force"), boolean=True)
    def is_live(self, exception: AccessListException) -> bool:
        return exception.expires_at > timezone.now()

    def save_model(self, request, obj, form, change) -> None:
        access_list_exception_save(
            exception=obj,
            actor=request.user,
            request=request,
            confirm_exclusion=self.exclusion_confirmed(request, form),
        )

    def delete_model(self, request, obj) -> None:
        access_list_exception_delete(
            exception=obj,
            actor=request.user,
            request=request,
            confirm_exclusion=self.exclusion_confirmed(request),
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
        "role_name",
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
        "confirm_mfa_relaxed",
        "require_phishing_resistant",
        "idle_timeout_minutes",
        "session_lifetime_minutes",
        "max_sessions",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(people_count=Count("people"))

    def get_form(self, request, obj=None, change=False, **kwargs):
        """Relaxing the MFA requirement is high-impact (the form refuses it without a fresh
        proof); every other change to a role is not."""
        form = super().get_form(request, obj, change, **kwargs)
        if proof_is_fresh(request=request, high_impact=True):
            return form
        return type(
            form.__name__,
            (form,),
            {"relaxing_proof_url": proof_page_url(request.get_full_path())},
        )

    @admin.display(description=_("people"), ordering="people_count")
    def people_count(self, role: Role) -> int:
        return role.people_count

    @admin.display(description=_("name"), ordering="name")
    def role_name(self, role: Role) -> str:
        """A built-in role's name in the reader's language; the stored name stays as it is."""
        return role.label

    @admin.display(description=_("scopes"))
    def scope_count(self, role: Role) -> int:
        return len(role.scope_set)

    @admin.display(description=_("scopes"))
    def scope_list(self, role: Role) -> str:
        return ", ".join(sorted(role.scope_set)) or gettext("None: their own account only")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and obj.is_builtin:
            shown = {"name": "role_name"}
            return [shown.get(name, name) for name in fields if name != "scopes"]
        return [name for name in fields if name != "scope_list"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = ["tenant"]
        if obj.is_builtin:
            readonly += ["role_name", "scope_list"]
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
        values = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name != "confirm_mfa_relaxed"
        }
        if change:
            role_update(role=obj, actor=request.user, values=values, request=request)
            return
        fields = [name for name in form.fields if name not in {"tenant", "confirm_mfa_relaxed"}]
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
class UserSessionAdmin(ReadOnlyScopedAdmin):
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

    @admin.display(description=_("device"))
    def device(self, session: UserSession) -> str:
        return str(device_from_user_agent(session.user_agent))

    def has_revoke_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "revoke")

    @admin.action(description=_("End the selected sessions"), permissions=["revoke"])
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
            lambda count: (
                ngettext("Ended %(count)d session.", "Ended %(count)d sessions.", count)
                % {"count": count}
            ),
        )
