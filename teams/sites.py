"""The admin site and the one mixin that scopes every ModelAdmin to the signed-in person's tenant.

Owners and admins of a tenant use the admin for their own tenant only; operators (superusers)
see every tenant. Everything registered on the site is scoped the same way, by configuration:
a model's path to its tenant is found from its fields (or named in `TENANT_PATHS`), and what a
tenant's people may do with it is a set of scopes (`scope_permissions`, or
`SCOPE_PERMISSIONS` for models whose admin another app or library defines). A model with no
known path to a tenant is for operators only.
"""

import functools
from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AdminSplitDateTime, AutocompleteSelect
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import resolve, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from audit.events import AuditEventType
from audit.refusals import access_refusal_record
from teams import access, scopes
from teams.models import Tenant, is_operator
from teams.proofs import fresh_proof_demand

ScopePermissions = dict[str, frozenset[str]]


class EmailOf:
    """A tenant path for rows that name a person by email rather than by foreign key (django-axes
    keeps the email typed at sign-in as `username`)."""

    def __init__(self, field: str) -> None:
        self.field = field

    def filter(self, queryset: models.QuerySet, tenant: Tenant) -> models.QuerySet:
        people = get_user_model().objects.for_tenant(tenant).values("email")
        return queryset.filter(**{f"{self.field}__in": people})


TenantPath = str | EmailOf
LOOKUP_MAX_LENGTH = 200

# Secret fields of models defined outside this project, keyed by "app_label.model_name"; the
# project's own models name theirs in a `secret_fields` class attribute.
LIBRARY_SECRET_FIELDS: dict[str, frozenset[str]] = {
    "sessions.session": frozenset({"session_key", "session_data"}),
    "otp_totp.totpdevice": frozenset({"key"}),
    "otp_static.statictoken": frozenset({"token"}),
    "axes.accesslog": frozenset({"session_hash"}),
    "axes.accessattempt": frozenset({"post_data"}),
}


def secret_fields_of(model: type[models.Model]) -> frozenset[str]:
    """The fields of `model` that hold a secret, a hash of one or a token."""
    return getattr(model, "secret_fields", frozenset()) | LIBRARY_SECRET_FIELDS.get(
        model._meta.label_lower, frozenset()
    )


@functools.cache
def secret_field_names() -> frozenset[str]:
    """The name of every secret field of every model: a lookup, a sort or a `_to_field` that
    names one anywhere along its path is refused."""
    return frozenset().union(*(secret_fields_of(model) for model in apps.get_models()))


def names_secret(path: str) -> bool:
    """Does a lookup or ordering path (`user__password__startswith`, `-token_hash`) pass
    through a secret field?"""
    return bool(secret_field_names().intersection(path.lstrip("-^=@").split(LOOKUP_SEP)))


# Models whose admin is defined outside this project, keyed by "app_label.model_name".
TENANT_PATHS: dict[str, TenantPath] = {
    "axes.accessattempt": EmailOf("username"),
    "axes.accesslog": EmailOf("username"),
    "axes.accessfailurelog": EmailOf("username"),
    # A one-to-one to the tenant, which the search for a foreign key doesn't find.
    "audit.auditwebhook": "tenant",
}
# django-axes' lists (the raw lockout counters) are for operators only: owners see and lift a
# person's lock on the people list and on recovery requests, in the site's words.
SCOPE_PERMISSIONS: dict[str, ScopePermissions] = {
    "audit.auditevent": {"view": frozenset({scopes.AUDIT_READ})},
    # A tenant's own audit webhook (audit/webhooks.py): its owners set, re-key and remove it.
    "audit.auditwebhook": {
        action: frozenset({scopes.SECURITY_WRITE}) for action in ("view", "add", "change", "delete")
    },
}

# High-impact settings whose admin another app defines (the others say `high_impact = True`).
HIGH_IMPACT_MODELS = frozenset({"audit.auditwebhook"})


def tenant_path_for(model: type[models.Model]) -> TenantPath | None:
    """How rows of `model` lead to their tenant, or None when they don't."""
    if model._meta.label_lower in TENANT_PATHS:
        return TENANT_PATHS[model._meta.label_lower]
    if model is Tenant:
        return "pk"
    relations = [
        field
        for field in model._meta.get_fields()
        if field.many_to_one and field.concrete and field.related_model is not None
    ]
    for field in relations:
        if field.related_model is Tenant:
            return field.name
    to_people = [field for field in relations if field.related_model is get_user_model()]
    if len(to_people) == 1:
        return f"{to_people[0].name}__tenant"
    return None


def scoped(
    queryset: models.QuerySet, request: HttpRequest, path: TenantPath | None = None
) -> models.QuerySet:
    """`queryset` narrowed to what the signed-in person may see (`teams.access.visible`), its
    path to the tenant found from the model when not given."""
    return access.visible(
        queryset, viewer=request.user, path=path or tenant_path_for(queryset.model)
    )


class ReadableAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete box, which re-shows a refused form without crashing on what was
    posted.

    Django's box looks the posted value up to show it again, and a value its key can't read (a
    blank, a word for a number) raises there: a 500 instead of the form's own "Select a valid
    choice". Such a value names nobody, so it is left out of the lookup.
    """

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, [item for item in value if self._readable(item)], attr)

    def _readable(self, item) -> bool:
        remote = self.field.remote_field
        target = remote.model._meta.get_field(
            getattr(remote, "field_name", None) or remote.model._meta.pk.name
        )
        try:
            target.to_python(item)
        except ValidationError:
            return False
        return True


class PresentValuesFilter(admin.RelatedOnlyFieldListFilter):
    """A related filter offering only the values present in the list, and no "-" choice for
    rows without one (a tenant's people always have a role; only operators lack one)."""

    @property
    def include_empty_choice(self) -> bool:
        return False


class SecretUnsortedChangeList(ChangeList):
    """A change list that never sorts by a secret field, whatever `?o=` column names one."""

    def get_ordering_field(self, field_name):
        ordering_field = super().get_ordering_field(field_name)
        if isinstance(ordering_field, str) and names_secret(ordering_field):
            return None
        return ordering_field


class LabelledSplitDateTime(AdminSplitDateTime):
    """Django admin's date and time boxes, each with a name: the admin draws the field's label
    as the legend of a fieldset around them, and "Date:" and "Time:" as plain text, so neither
    box had a name of its own (axe: "label")."""

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        self.widgets[0].attrs["aria-label"] = _("Date")
        self.widgets[1].attrs["aria-label"] = _("Time")


class TenantScopedAdmin(admin.ModelAdmin):
    """Scopes a ModelAdmin to the signed-in person's tenant, in every way the admin reaches rows.

    Covered: the change list and search, change/delete/history pages (another tenant's id is a
    404), actions (they run on the scoped list), foreign-key and many-to-many choices (and so
    autocomplete, which reads the related model's scoped admin), list filters (related filters
    offer only values present in the scoped list; the tenant filter is for operators), and new
    rows (pinned to the person's tenant whatever was posted).

    A tenant's people are allowed what `scope_permissions` says: for "view", "add", "change"
    and "delete", the scopes of which any one is enough. Operators are allowed what the
    ModelAdmin itself allows.
    """

    scope_permissions: ScopePermissions | None = None
    tenant_path: TenantPath | None = None
    formfield_overrides = {models.DateTimeField: {"widget": LabelledSplitDateTime}}
    # Adding, changing or deleting rows here (their pages and the list's actions) needs a proof
    # of identity within HIGH_IMPACT_PROOF_MINUTES (teams/proofs.py, ASVS 5.0 V7.5.3).
    high_impact = False
    view_on_site = False
    save_as = False

    # --- who may do what

    def is_operator(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    def holds_scope_for(self, request: HttpRequest, action: str) -> bool:
        configured = self.scope_permissions
        if configured is None:
            configured = SCOPE_PERMISSIONS.get(self.opts.label_lower, {})
        return access.holds_any_scope(request.user, configured.get(action, ()))

    def has_view_permission(self, request, obj=None) -> bool:
        if self.is_operator(request):
            return super().has_view_permission(request, obj)
        return self.holds_scope_for(request, "view") or self.has_change_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        if self.is_operator(request):
            return super().has_add_permission(request)
        return self.holds_scope_for(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        if self.is_operator(request):
            return super().has_change_permission(request, obj)
        return self.holds_scope_for(request, "change")

    def has_delete_permission(self, request, obj=None) -> bool:
        if self.is_operator(request):
            return super().has_delete_permission(request, obj)
        return self.holds_scope_for(request, "delete")

    def has_module_permission(self, request) -> bool:
        if self.is_operator(request):
            return super().has_module_permission(request)
        return self.has_view_permission(request) or self.has_add_permission(request)

    # --- never by a secret: the admin lets a query string filter (`?secret__startswith=`),
    # sort (`?o=`) or link (`?_to_field=`) by fields, and each would give a secret away a
    # character at a time

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if names_secret(lookup):
            self.secret_field_refusal_record(request, lookup)
            return False
        return super().lookup_allowed(lookup, value, request)

    def to_field_allowed(self, request: HttpRequest, to_field: str) -> bool:
        if names_secret(to_field):
            self.secret_field_refusal_record(request, to_field)
            return False
        return super().to_field_allowed(request, to_field)

    def get_search_fields(self, request):
        return [name for name in super().get_search_fields(request) if not names_secret(name)]

    def get_sortable_by(self, request):
        return [
            name
            for name in super().get_sortable_by(request)
            if not (isinstance(name, str) and names_secret(name))
        ]

    def get_changelist(self, request, **kwargs):
        return SecretUnsortedChangeList

    def secret_field_refusal_record(self, request: HttpRequest, path: str) -> None:
        access_refusal_record(
            event=AuditEventType.ACCESS_REFUSED,
            request=request,
            details={
                "reason": "secret_field",
                "model": self.opts.label_lower,
                "lookup": path[:LOOKUP_MAX_LENGTH],
            },
        )

    # --- which rows

    def get_tenant_path(self) -> TenantPath | None:
        return self.tenant_path or tenant_path_for(self.model)

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), request, self.get_tenant_path())

    def get_object(self, request, object_id, from_field=None):
        """Another tenant's row is the same 404 as a missing one, not the admin's redirect.

        An empty `_to_field` passes the admin's own check (it only vets non-empty names) and then
        names no field at all, so it means the primary key, as no `_to_field` does."""
        obj = super().get_object(request, object_id, from_field or None)
        if obj is None:
            if not from_field:
                access.other_tenant_refusal_record(
                    request=request,
                    model=self.model,
                    object_id=object_id,
                    path=self.get_tenant_path(),
                )
            raise Http404(f"No {self.opts.verbose_name} with that id.")
        return obj

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The form, knowing who is acting (forms check the rules in `teams.rules`), and with a
        new row already in the person's own tenant, whatever was posted, so the model's own
        validation sees the tenant it will be saved in."""
        form = super().get_form(request, obj, change, **kwargs)
        path = self.get_tenant_path()
        pinned = (
            path
            if isinstance(path, str)
            and "__" not in path
            and path != "pk"
            and not self.is_operator(request)
            else None
        )
        actor = request.user

        def __init__(self, *args, **kwargs):
            form.__init__(self, *args, **kwargs)
            if pinned and self.instance._state.adding:
                setattr(self.instance, f"{pinned}_id", actor.tenant_id)

        return type(form.__name__, (form,), {"actor": actor, "__init__": __init__})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = ReadableAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return self._scope_choices(formfield, request)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        return self._scope_choices(formfield, request)

    def _scope_choices(self, formfield, request: HttpRequest):
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = scoped(formfield.queryset, request)
        return formfield

    # --- what tenant people see of the tenant itself

    def _hides(self, request: HttpRequest, name) -> bool:
        return (
            not self.is_operator(request)
            and isinstance(name, str)
            and self.get_tenant_path() == name
            and name != "pk"
        )

    def get_list_display(self, request):
        return [
            name for name in super().get_list_display(request) if not self._hides(request, name)
        ]

    def get_fields(self, request, obj=None):
        return [name for name in super().get_fields(request, obj) if not self._hides(request, name)]

    def get_fieldsets(self, request, obj=None):
        return self.without_tenant(request, super().get_fieldsets(request, obj))

    def without_tenant(self, request: HttpRequest, fieldsets) -> list:
        """`fieldsets` without the tenant field, for people who only ever see their own."""
        return [
            (
                title,
                {
                    **options,
                    "fields": [n for n in options["fields"] if not self._hides(request, n)],
                },
            )
            for title, options in fieldsets
        ]

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        path = self.get_tenant_path()
        if not self.is_operator(request) and isinstance(path, str) and path != "pk":
            excluded.append(path.split("__")[0])
        return excluded

    def get_list_filter(self, request):
        """Related filters offer only the values present in the (scoped) list, for operators too:
        a filter listing every person of every tenant would be both a leak and a long page."""
        narrowed = []
        for entry in super().get_list_filter(request):
            if self._hides(request, entry):
                continue
            if isinstance(entry, str) and self._is_relation(entry):
                entry = (entry, PresentValuesFilter)
            narrowed.append(entry)
        return narrowed

    def _is_relation(self, path: str) -> bool:
        try:
            return get_fields_from_path(self.model, path)[-1].is_relation
        except FieldDoesNotExist:
            return False

    # --- high-impact settings ask for a fresh proof before they are even shown for editing

    def high_impact_proof_demand(
        self, request: HttpRequest, *, writes: bool
    ) -> HttpResponse | None:
        """The redirect to the proof page, when this admin holds high-impact settings, the
        person may change them (`writes`) and their proof is stale. Asked before the form is
        shown, so nothing typed is lost on the way; people who may only look are not asked."""
        high_impact = self.high_impact or self.opts.label_lower in HIGH_IMPACT_MODELS
        if not (high_impact and writes):
            return None
        return fresh_proof_demand(request, high_impact=True)

    def changelist_view(self, request, extra_context=None):
        acting = request.method == "POST" and "action" in request.POST
        return self.high_impact_proof_demand(request, writes=acting) or super().changelist_view(
            request, extra_context
        )

    # --- services refuse with a ValidationError; show it rather than fail

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        writes = (
            self.has_change_permission(request)
            if object_id is not None
            else self.has_add_permission(request)
        )
        demand = self.high_impact_proof_demand(request, writes=writes)
        if demand is not None:
            return demand
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as refusal:
            return self.refused(request, refusal)

    def delete_view(self, request, object_id, extra_context=None):
        demand = self.high_impact_proof_demand(request, writes=self.has_delete_permission(request))
        if demand is not None:
            return demand
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as refusal:
            return self.refused(request, refusal)

    def refused(self, request: HttpRequest, refusal: ValidationError) -> HttpResponse:
        self.refusal_record(request, refusal)
        for message in refusal.messages:
            self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def refusal_record(
        self,
        request: HttpRequest,
        refusal: Exception,
        obj: models.Model | None = None,
        action: str | None = None,
    ) -> None:
        """Audit a change or action a service refused (audit/refusals.py collapses repeats).
        The action is the list's posted one unless named (a person page's, from its URL)."""
        if action is None:
            action = request.POST.get("action", "") if request.method == "POST" else ""
        details = {
            "model": self.opts.label_lower,
            "action": action,
            "code": getattr(refusal, "code", None) or type(refusal).__name__,
        }
        if obj is not None:
            details["id"] = str(obj.pk)
        access_refusal_record(
            event=AuditEventType.ADMIN_ACTION_REFUSED, request=request, details=details
        )

    def run_for_each(
        self,
        request: HttpRequest,
        queryset,
        service: Callable[[models.Model], object],
        done: Callable[[int], str],
    ) -> None:
        """Run a service on each selected row, then say how many it did (`done(count)`) and why
        any were refused."""
        count = 0
        for obj in queryset:
            try:
                service(obj)
            except ValidationError as refusal:
                self.refusal_record(request, refusal, obj)
                self.message_user(
                    request,
                    _("%(object)s: %(reason)s")
                    % {"object": obj, "reason": " ".join(refusal.messages)},
                    messages.ERROR,
                )
            except PermissionDenied as refusal:
                self.refusal_record(request, refusal, obj)
                self.message_user(
                    request,
                    _("%(object)s: %(reason)s") % {"object": obj, "reason": refusal},
                    messages.ERROR,
                )
            else:
                count += 1
        if count:
            self.message_user(request, done(count), messages.SUCCESS)


class ReadOnlyScopedAdmin(TenantScopedAdmin):
    """A tenant-scoped list that is read and acted on through its actions only: rows are never
    added, edited or deleted here, because they change only through services, which audit them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def boolean_icon(value: bool | None) -> str:
    """Django admin's yes/no/unknown icon, named in the reader's language."""
    icon, name = {
        True: ("yes", pgettext("boolean", "Yes")),
        False: ("no", pgettext("boolean", "No")),
        None: ("unknown", pgettext("boolean", "Unknown")),
    }[value]
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{icon}.svg"), name)


class PortcullisAdminSite(admin.AdminSite):
    """The admin, open to operators and to people whose role holds an admin scope.

    There is no admin sign-in form: people sign in through /accounts/login/, so its checks (and
    later factors) guard the admin too. Every ModelAdmin registered here is tenant-scoped.
    """

    site_header = _("Portcullis administration")
    site_title = _("Portcullis")
    index_title = _("Administration")
    # The side menu took a third of the width, clipping the lists' right-hand columns; the
    # index and the breadcrumbs lead everywhere it did.
    enable_nav_sidebar = False

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        # Deleting in bulk would skip the services (and their audit events); nothing here needs it.
        self.disable_action("delete_selected")

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, TenantScopedAdmin):
            admin_class = type(
                admin_class.__name__,
                (TenantScopedAdmin, admin_class),
                {"__module__": admin_class.__module__},
            )
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user) or access.holds_any_scope(
            request.user, scopes.ADMIN_SCOPES
        )

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        target = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index", current_app=self.name)
        if not request.user.is_authenticated:
            return redirect_to_login(target, settings.LOGIN_URL)
        if not self.has_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(target)

    def logout(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """The admin's sign-out is the site's one sign-out (audited, forgetting the session's
        tracking row): the request is handed to the view at /accounts/logout/. It is found by
        its URL, since accounts sits above teams."""
        if request.method != "POST":
            return redirect("accounts:logout")
        return resolve(reverse("accounts:logout")).func(request)

    def password_change(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """Passwords change in one place, which ends the other sessions and audits it."""
        return HttpResponseRedirect("/accounts/password/change/")

    def password_change_done(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
