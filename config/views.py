"""Pages of the whole site rather than of one app."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from config.todos import todos_for, todos_shown_to
from mfa.selectors import security_status_for_user


@never_cache
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """What needs doing (for owners and operators), then who you are, your tenant and role,
    and how your account stands."""
    status = security_status_for_user(user=request.user)
    context = {"security": status, "todos_shown": todos_shown_to(request.user)}
    if context["todos_shown"]:
        context["todos"] = todos_for(viewer=request.user, now=timezone.now())
    return render(request, "accounts/dashboard.html", context)
