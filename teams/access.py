"""Who may see what: this viewer, this object or tenant, this scope, answered in one place.

Like Zulip's `access_user_by_id`, views fetch through here, and the tenant and the scope are
checked together with one outcome each: another tenant's row is the same Http404 as a missing
one, and a scope not held is PermissionDenied (a 403). Operators (active superusers) see every
tenant. Selectors take the queryset or tenant decided here; services check again with
`teams.rules.refuse_other_tenant`.

audit sits below teams and can't import this module. The rule it needs is on the ground floor
(`TenantQuerySet.visible_to`, `is_operator`), and its views ask `user.has_perm(scope)` through
Django's `permission_required`, the check `scope_required` makes for one scope.
"""

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Protocol

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.events import AuditEventType
from audit.refusals import access_refusal_record
from teams.models import Tenant, is_operator


class TenantFilter(Protocol):
    """A path to the tenant that isn't a lookup, such as `teams.sites.EmailOf`."""

    def filter(self, queryset: QuerySet, tenant: Tenant) -> QuerySet: ...


def holds_any_scope(user: User, scope_keys: Iterable[str]) -> bool:
    return any(user.has_perm(scope) for scope in scope_keys)


def scope_check(user: User, scope_keys: Iterable[str], *, own_tenant: bool = False) -> None:
    """Refuse (PermissionDenied) a person holding none of `scope_keys`.

    With `own_tenant`, the page is about the viewer's own tenant, so a person without one (an
    operator) is refused too.
    """
    scope_keys = tuple(scope_keys)
    if (own_tenant and user.tenant_id is None) or not holds_any_scope(user, scope_keys):
        raise PermissionDenied(
            _("This needs one of these scopes: %(scopes)s.") % {"scopes": ", ".join(scope_keys)}
        )


def scope_required(
    *scope_keys: str, own_tenant: bool = False
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A view for signed-in people holding any of `scope_keys`: anonymous people are sent to
    sign in, everybody else without one of them gets a 403. `own_tenant` as in `scope_check`.

    Scopes are declared on the view, as Sentry's endpoints declare a `scope_map`, rather than
    checked by hand inside it.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            scope_check(request.user, scope_keys, own_tenant=own_tenant)
            return view(request, *args, **kwargs)

        return login_required(guarded)

    return decorator


def visible(
    queryset: QuerySet, *, viewer: User, path: str | TenantFilter | None = "tenant"
) -> QuerySet:
    """`queryset` narrowed to what `viewer` may see: everything for operators, their own
    tenant's rows for everybody else active, and nothing when the rows have no tenant (`path`
    None) or the viewer has none.

    `path` leads from a row to its tenant: a lookup ("tenant", "user__tenant", "pk" for tenants
    themselves) or a `TenantFilter`.
    """
    if is_operator(viewer):
        return queryset
    if path is None or not viewer.is_active or viewer.tenant_id is None:
        return queryset.none()
    if isinstance(path, str):
        return queryset.filter(**{path: viewer.tenant_id})
    return path.filter(queryset, viewer.tenant)


def access_by_id(
    queryset: QuerySet,
    *,
    viewer: User,
    object_id: int,
    scope_keys: Iterable[str] = (),
    path: str | TenantFilter | None = "tenant",
    request: HttpRequest | None = None,
) -> Model:
    """One row of `queryset` by id, if `viewer` may see it and holds one of `scope_keys`.

    A scope not held is PermissionDenied whatever the id, so a 403 never says whether a row
    exists; another tenant's row is the same Http404 as a missing one, and is audited as a
    refusal (`other_tenant_refusal_record`) when `request` is given.
    """
    if scope_keys:
        scope_check(viewer, scope_keys)
    found = visible(queryset, viewer=viewer, path=path).filter(pk=object_id).first()
    if found is None:
        if request is not None:
            other_tenant_refusal_record(
                request=request, model=queryset.model, object_id=object_id, path=path
            )
        raise Http404(f"No {queryset.model._meta.verbose_name} with that id.")
    return found


def other_person_refusal_record(*, request: HttpRequest, model: type[Model], object_id) -> None:
    """Audit a request for one's own session, passkey or remembered browser (`model`, which has
    a `user`) naming a row that exists but is somebody else's. The answer stays the 404 of a
    missing one; a missing id (a typo, a row already gone) is not a refusal."""
    try:
        exists = model._default_manager.filter(pk=object_id).exclude(user=request.user).exists()
    except (ValueError, TypeError, ValidationError):
        return
    if exists:
        access_refusal_record(
            event=AuditEventType.OTHER_PERSON_REFUSED,
            request=request,
            details={"model": model._meta.label_lower, "id": str(object_id)[:40]},
        )


def other_tenant_refusal_record(
    *,
    request: HttpRequest,
    model: type[Model],
    object_id,
    path: str | TenantFilter | None = "tenant",
) -> None:
    """Audit a request for a row that exists but that the viewer may not see: another tenant's.
    Two more queries, made only on the way to a 404 whose answer is the same either way. A
    missing id (a typo, a stale link) is not a refusal."""
    try:
        rows = model._default_manager.filter(pk=object_id)
        exists = rows.exists() and not visible(rows, viewer=request.user, path=path).exists()
    except (ValueError, TypeError, ValidationError):
        return
    if exists:
        access_refusal_record(
            event=AuditEventType.OTHER_TENANT_REFUSED,
            request=request,
            details={"model": model._meta.label_lower, "id": str(object_id)[:40]},
        )
