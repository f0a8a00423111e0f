from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from reviews.feedback import bulk_outcome_announce, review_recorded_message
from reviews.forms import ACTION_SCOPES, BULK_ACTIONS, AccessReviewFilterForm, BulkActionForm
from reviews.selectors import access_review_filtered, access_review_last, access_review_rows
from reviews.services import access_review_complete, people_bulk_act
from teams import scopes
from teams.access import holds_any_scope, scope_required
from teams.models import Role
from teams.proofs import proof_is_fresh, proof_page_url


@never_cache
@require_GET
@scope_required(scopes.MEMBERS_READ, own_tenant=True)
def access_review(request: HttpRequest) -> HttpResponse:
    tenant = request.user.tenant
    form = AccessReviewFilterForm(request.GET)
    rows = access_review_rows(tenant=tenant)
    total, flagged = len(rows), sum(1 for row in rows if row.flags)
    if form.is_valid():
        rows = access_review_filtered(
            rows,
            flag=form.cleaned_data["flag"],
            role_id=form.cleaned_data["role"],
            sort=form.cleaned_data["sort"],
        )
    return render(
        request,
        "reviews/access_review.html",
        {
            "form": form,
            "rows": rows,
            "total": total,
            "flagged": flagged,
            "roles": Role.objects.for_tenant(tenant).order_by("name"),
            "last_review": access_review_last(tenant=tenant),
            "max_sessions": settings.ACCESS_REVIEW_MAX_SESSIONS,
            "actions": [
                (action, label)
                for action, label in BULK_ACTIONS
                if holds_any_scope(request.user, (ACTION_SCOPES[action],))
            ],
        },
    )


@never_cache
@require_POST
@scope_required(scopes.MEMBERS_READ, own_tenant=True)
def access_review_act(request: HttpRequest) -> HttpResponse:
    """Bulk actions: the first POST shows who and what for confirmation, the second acts."""
    tenant = request.user.tenant
    people = User.objects.for_tenant(tenant).select_related("role")
    form = BulkActionForm(
        request.POST, person_choices=[(person.pk, person.email) for person in people]
    )
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("reviews:access_review")
    chosen = [person for person in people if person.pk in set(form.cleaned_data["people"])]
    action = form.cleaned_data["action"]
    if action == "reset_mfa" and not proof_is_fresh(request=request):
        # Asked once before the confirmation, as the people admin does, rather than one
        # refusal per person from the service.
        messages.error(
            request,
            _("Resetting two-factor needs your password first; then tick the people again."),
        )
        return redirect(proof_page_url(reverse("reviews:access_review")))
    if not form.cleaned_data["confirmed"]:
        return render(
            request,
            "reviews/access_review_confirm.html",
            {
                "people": chosen,
                "action": action,
                "action_label": dict(form.fields["action"].choices)[action],
            },
        )
    done, refused = people_bulk_act(
        action=action, people=chosen, actor=request.user, request=request
    )
    bulk_outcome_announce(
        request, label=dict(form.fields["action"].choices)[action], done=done, refused=refused
    )
    return redirect("reviews:access_review")


@require_POST
@scope_required(scopes.MEMBERS_READ, own_tenant=True)
def access_review_done(request: HttpRequest) -> HttpResponse:
    review = access_review_complete(tenant=request.user.tenant, actor=request.user, request=request)
    messages.success(
        request,
        review_recorded_message(review.people_reviewed),
    )
    return redirect("reviews:access_review")
