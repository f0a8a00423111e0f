"""Pages of the whole site rather than of one app."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from mfa.selectors import security_status_for_user


@never_cache
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Who you are, your tenant and role, and how your account stands."""
    status = security_status_for_user(user=request.user)
    return render(request, "accounts/dashboard.html", {"security": status})
