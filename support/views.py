from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.views import remembered_contact
from mfa.services import FreshProofNeeded
from support.forms import RESOLVE_ACTIONS, RESOLVE_EFFECTS, RecoveryRequestForm, RecoveryResolveForm
from support.guides import GUIDES, GUIDES_BY_SLUG
from support.models import RecoveryRequest
from support.selectors import RECOVERY_SCOPES, recovery_person_state, recovery_queue_for
from support.services import recovery_request_handle, recovery_request_submit
from teams import scopes
from teams.access import access_by_id, scope_required
from teams.proofs import proof_page_redirect
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


@never_cache
@require_GET
@scope_required(*RECOVERY_SCOPES, own_tenant=True)
def recovery_queue(request: HttpRequest) -> HttpResponse:
    requests = list(recovery_queue_for(tenant=request.user.tenant)[:200])
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
@scope_required(*RECOVERY_SCOPES, own_tenant=True)
def recovery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    recovery = access_by_id(
        recovery_queue_for(tenant=request.user.tenant),
        viewer=request.user,
        object_id=pk,
        request=request,
    )
    user = request.user
    state = recovery_person_state(person=recovery.person)
    can = {
        "mfa_reset": user.has_perm(scopes.MFA_RESET) and state.has_second_factor,
        "unlock": user.has_perm(scopes.LOCKOUT_UNLOCK),
        "reset_link": user.has_perm(scopes.MEMBERS_WRITE),
        "decline": True,
    }
    available = frozenset(action for action, allowed in can.items() if allowed)
    # A handled request goes straight to the service, which says it was already handled.
    if recovery.status != RecoveryRequest.Status.OPEN:
        available = frozenset(dict(RESOLVE_ACTIONS))
    form = RecoveryResolveForm(request.POST or None, available=available)
    if request.method == "POST" and form.is_valid():
        action = form.cleaned_data["action"]
        if recovery.status == RecoveryRequest.Status.OPEN and not form.cleaned_data["confirmed"]:
            return render(
                request,
                "support/recovery_confirm.html",
                {
                    "recovery": recovery,
                    "action": action,
                    "action_label": dict(RESOLVE_ACTIONS)[action],
                    "effect": RESOLVE_EFFECTS[action],
                },
            )
        try:
            recovery_request_handle(
                recovery=recovery, action=action, actor=request.user, request=request
            )
        except FreshProofNeeded as error:
            messages.info(request, error.messages[0])
            return proof_page_redirect(request)
        except (ValidationError, PermissionDenied) as error:
            form.add_error(None, " ".join(getattr(error, "messages", None) or [str(error)]))
        else:
            messages.success(
                request,
                _("Done: %(email)s has been mailed the outcome.")
                % {"email": recovery.person.email},
            )
            return redirect("support:recovery_queue")
    return render(
        request,
        "support/recovery_detail.html",
        {
            "recovery": recovery,
            "form": form,
            "state": state,
            "can_reset_mfa": can["mfa_reset"],
            "can_unlock": can["unlock"] and state.locked_until is not None,
            "can_send_link": can["reset_link"],
        },
    )
