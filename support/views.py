from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.views import remembered_contact
from support.forms import RecoveryRequestForm, RecoveryResolveForm
from support.guides import GUIDES, GUIDES_BY_SLUG
from support.models import RecoveryRequest
from support.selectors import RECOVERY_SCOPES, recovery_queue_for, recovery_request_for
from support.services import recovery_request_handle, recovery_request_submit
from teams.selectors import unlock_contact_for_tenant


def _help_context(request: HttpRequest) -> dict:
    contact = None
    if request.user.is_authenticated and request.user.tenant_id:
        contact = unlock_contact_for_tenant(tenant=request.user.tenant, exclude=request.user)
    return {
        "guides": GUIDES,
        "LOCKOUT_FAILURES": settings.LOCKOUT_FAILURES,
        "LOCKOUT_MINUTES": f"{settings.LOCKOUT_MINUTES:g}",
        "contact": contact or remembered_contact(request),
    }


@require_GET
def help_index(request: HttpRequest) -> HttpResponse:
    return render(request, "support/help_index.html", _help_context(request))


@require_GET
def help_guide(request: HttpRequest, slug: str) -> HttpResponse:
    guide = GUIDES_BY_SLUG.get(slug)
    if guide is None:
        raise Http404("No such guide.")
    return render(request, "support/help_guide.html", {**_help_context(request), "guide": guide})


@never_cache
@require_http_methods(["GET", "POST"])
def recovery(request: HttpRequest) -> HttpResponse:
    """ "Can't sign in?": the same answer whatever the email, so it tells nobody who has an
    account."""
    form = RecoveryRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        recovery_request_submit(
            request=request,
            email=form.cleaned_data["email"],
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
        return redirect("support:recovery_sent")
    return render(request, "support/recovery.html", {"form": form})


@never_cache
@require_GET
def recovery_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "support/recovery_sent.html", {"days": settings.RECOVERY_REQUEST_DAYS})


def _require_recovery_scope(request: HttpRequest) -> None:
    if request.user.tenant_id is None or not any(
        request.user.has_perm(scope) for scope in RECOVERY_SCOPES
    ):
        raise PermissionDenied("You need mfa:reset or lockout:unlock to handle recovery requests.")


@never_cache
@require_GET
@login_required
def recovery_queue(request: HttpRequest) -> HttpResponse:
    _require_recovery_scope(request)
    requests = list(recovery_queue_for(viewer=request.user)[:200])
    return render(
        request,
        "support/recovery_queue.html",
        {
            "open": [r for r in requests if r.status == RecoveryRequest.Status.OPEN],
            "closed": [r for r in requests if r.status != RecoveryRequest.Status.OPEN][:50],
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def recovery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_recovery_scope(request)
    recovery = recovery_request_for(viewer=request.user, request_id=pk)
    form = RecoveryResolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            recovery_request_handle(
                recovery=recovery,
                action=form.cleaned_data["action"],
                actor=request.user,
                request=request,
            )
        except (ValidationError, PermissionDenied) as error:
            form.add_error(None, " ".join(getattr(error, "messages", None) or [str(error)]))
        else:
            messages.success(request, f"Done: {recovery.person.email} has been mailed the outcome.")
            return redirect("support:recovery_queue")
    user = request.user
    return render(
        request,
        "support/recovery_detail.html",
        {
            "recovery": recovery,
            "form": form,
            "can_reset_mfa": user.has_perm("mfa:reset"),
            "can_unlock": user.has_perm("lockout:unlock"),
            "can_send_link": user.has_perm("members:write"),
        },
    )
