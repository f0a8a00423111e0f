from urllib.parse import urlencode

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.forms import SignInForm
from accounts.selectors import security_status_for_user
from accounts.services import user_sign_in, user_sign_out


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: SignInForm) -> HttpResponse:
        step_due = user_sign_in(request=self.request, user=form.get_user())
        if step_due is not None:
            return redirect(f"{step_due}?{urlencode({'next': self.get_success_url()})}")
        return redirect(self.get_success_url())


@never_cache
@require_http_methods(["GET", "POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    """GET only asks: signing out changes state, so it takes a POST with a CSRF token."""
    if request.method == "POST":
        user_sign_out(request=request)
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


@never_cache
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    status = security_status_for_user(user=request.user)
    return render(request, "accounts/dashboard.html", {"security": status})
