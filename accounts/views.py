from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN, redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import resolve, reverse, reverse_lazy
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django.views.generic import FormView, TemplateView

from accounts import lockout, lockout_counters
from accounts.alerts import (
    ReportLinkInvalid,
    report_link_alert,
    sign_in_already_reported,
    sign_in_report,
)
from accounts.attempt import attempt_pending
from accounts.doors import password_door
from accounts.forms import (
    NewPasswordForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    SignInForm,
)
from accounts.gates import SignInRefusedAtDoor, SignInRefusedByAccessList, SignInRefusedInactive
from accounts.models import User
from accounts.selectors import (
    passkey_sign_in_offered,
    password_change_reason,
    sign_in_failures_left_to_warn,
)
from accounts.services import (
    password_change,
    password_change_at_sign_in,
    password_link_refusal_record,
    password_reset_request,
    password_set_from_link,
)
from accounts.sign_in import pending_sign_in_user, user_sign_out
from accounts.stages import home_realm_for, password_sign_in_refusal
from audit.client import client_ip
from audit.devices import device_from_user_agent
from teams.models import Tenant
from teams.notices import access_list_refusal
from teams.selectors import access_list_allows, unlock_contact_for_tenant
from teams.services.access_list import access_list_sign_in_refuse
from teams.tokens import set_password_tokens

# After a sign-in, this browser remembers the person's tenant (signed, not secret), so the
# sign-in page and the lock notice can name who to ask for help without the typed email ever
# deciding what they show.
REMEMBERED_TENANT_COOKIE = settings.REMEMBERED_TENANT_COOKIE_NAME
REMEMBERED_TENANT_SALT = "accounts.remembered-tenant"
REMEMBERED_TENANT_MAX_AGE = timedelta(days=365)
# The email typed on the sign-in page, kept once by a door that sends the person back to it
# (single sign-on not set up for that domain): the page shows it again rather than empty.
TYPED_EMAIL_SESSION_KEY = "accounts_typed_email"


def remembered_tenant(request: HttpRequest) -> Tenant | None:
    tenant_id = request.get_signed_cookie(
        REMEMBERED_TENANT_COOKIE,
        default=None,
        salt=REMEMBERED_TENANT_SALT,
        max_age=REMEMBERED_TENANT_MAX_AGE,
    )
    if not tenant_id or not tenant_id.isdigit():
        return None
    return Tenant.objects.filter(pk=tenant_id).first()


def remembered_tenant_set(response: HttpResponse, *, user: User) -> None:
    """After a sign-in's first factor: remember the person's tenant in this browser."""
    if user.tenant_id:
        response.set_signed_cookie(
            REMEMBERED_TENANT_COOKIE,
            str(user.tenant_id),
            salt=REMEMBERED_TENANT_SALT,
            max_age=REMEMBERED_TENANT_MAX_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )


def remembered_contact(request: HttpRequest) -> User | None:
    tenant = remembered_tenant(request)
    return unlock_contact_for_tenant(tenant=tenant) if tenant is not None else None


def next_url_for(request: HttpRequest, default: str = "dashboard") -> str:
    """Where to go afterwards: the `next` the request names, if it stays on this site.

    Only a path is taken: `redirect()` would try a bare word such as "dashboard" as a URL name
    and fail with an error instead of a redirect."""
    candidate = request.POST.get("next") or request.GET.get("next")
    if (
        candidate
        and candidate.startswith("/")
        and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return candidate
    return resolve_url(default)


def typed_email_keep(request: HttpRequest, email: str) -> None:
    """Send the typed email back to the sign-in page, shown once in its box."""
    if email:
        request.session[TYPED_EMAIL_SESSION_KEY] = email[:254]


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs) -> dict:
        """The browser's autofill offers passkeys on the email field only where the tenant this
        browser last signed in to allows a passkey alone; elsewhere the passkey button does
        (an autofill offer that can only be refused would send people round in a circle)."""
        tenant = remembered_tenant(self.request)
        return {
            **super().get_context_data(**kwargs),
            "contact": unlock_contact_for_tenant(tenant=tenant) if tenant is not None else None,
            "passkey_autofill": tenant is not None and tenant.passwordless_sign_in,
            "passkey_offered": passkey_sign_in_offered(tenant=tenant),
        }

    def get_initial(self) -> dict:
        initial = super().get_initial()
        if self.request.method == "GET" and TYPED_EMAIL_SESSION_KEY in self.request.session:
            initial["username"] = self.request.session.pop(TYPED_EMAIL_SESSION_KEY)
        return initial

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        email = request.POST.get("username", "").strip()
        if email and not request.POST.get("password"):
            # Home-realm discovery: an email alone whose domain signs in through its tenant's
            # identity provider goes there when the tenant requires it, else is offered it.
            # Single sign-on is found by its URL, since it sits above accounts.
            realm = home_realm_for(email=email)
            if realm is not None and realm.required:
                return resolve(reverse("sso:start")).func(request)
            if realm is not None:
                self.extra_context = {"realm": realm}
                offered = self.form_class(request, initial={"username": email})
                return self.render_to_response(self.get_context_data(form=offered))
        # A right password's lockout slot is settled with its attempt (accounts/sign_in.py).
        lockout.attempt_settle_later(request)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: SignInForm) -> HttpResponse:
        left = sign_in_failures_left_to_warn(email=form.data.get("username", ""))
        if left is not None:
            form.add_error(
                None,
                ngettext(
                    "%(left)d more wrong password and signing in with this email pauses for "
                    "%(minutes)s minutes.",
                    "%(left)d more wrong passwords and signing in with this email pauses for "
                    "%(minutes)s minutes.",
                    left,
                )
                % {"left": left, "minutes": f"{settings.LOCKOUT_MINUTES:g}"},
            )
        return super().form_invalid(form)

    def form_valid(self, form: SignInForm) -> HttpResponse:
        user = form.get_user()
        try:
            step_due = password_door(
                request=self.request, user=user, password=form.cleaned_data["password"]
            )
        except SignInRefusedByAccessList:
            return access_list_refusal(self.request, tenant=user.tenant)
        except SignInRefusedInactive:
            return self.form_invalid(form)
        except SignInRefusedAtDoor as refusal:
            return render(
                self.request,
                "accounts/password_refused.html",
                {"instead": refusal.instead, "email": user.email, "next": self.get_success_url()},
                status=403,
            )
        if step_due is not None:
            response = redirect(f"{step_due}?{urlencode({'next': self.get_success_url()})}")
        else:
            response = redirect(self.get_success_url())
        remembered_tenant_set(response, user=user)
        return response


def lockout_notice(
    request: HttpRequest, response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the answer to an attempt refused or stopped by a lock.

    It says the same for an email with an account and one without: nothing in it depends on
    who the email belongs to.
    """
    lock = getattr(request, "lockout", None)
    if lock is None:
        email = lockout.email_key_from_credentials(request, credentials) or ""
        lock = lockout_counters.lock_for(
            email=email, ip=client_ip(request)
        ) or lockout_counters.Lock(ends_at=timezone.now() + lockout_counters.lock_duration())
    notice = render(
        request,
        "accounts/locked.html",
        {"lock": lock, "minutes": lock.minutes_left(), "contact": remembered_contact(request)},
        status=429,
    )
    notice["Retry-After"] = str(lock.seconds_left())
    add_never_cache_headers(notice)
    return notice


@method_decorator(never_cache, name="dispatch")
class PasswordResetRequestView(FormView):
    """Ask for a link. Every email gets the same answer, at the same speed."""

    form_class = PasswordResetRequestForm
    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("accounts:password_reset_sent")

    def form_valid(self, form: PasswordResetRequestForm) -> HttpResponse:
        password_reset_request(request=self.request, email=form.cleaned_data["email"])
        return super().form_valid(form)


@method_decorator(never_cache, name="dispatch")
class PasswordResetSentView(TemplateView):
    template_name = "accounts/password_reset_sent.html"

    def get_context_data(self, **kwargs) -> dict:
        return {**super().get_context_data(**kwargs), "contact": remembered_contact(self.request)}


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """Choose a password from an emailed link (a reset, or an invitation).

    Django's view checks the token, keeps it in the session and redirects to `.../set-password/`
    so it leaves the address bar. A deactivated person's link is dead, and a link is a door like
    the password form: the person's sign-in policy (single sign-on required, the IP access list)
    refuses it when it is opened and when it is used.
    """

    form_class = NewPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:login")
    token_generator = set_password_tokens

    sign_in_instead: str | None = None
    off_access_list = False

    def dispatch(self, *args, **kwargs) -> HttpResponse:
        response = super().dispatch(*args, **kwargs)
        if self.refused and isinstance(response, HttpResponseRedirect):
            # The token in the address checked out: refuse here rather than on the form page.
            response = self.refusal_response()
        if kwargs.get("token") != self.reset_url_token:
            # This address holds the token: let nothing pass it on as a referrer. The form page
            # keeps the site's same-origin policy, since "no-referrer" makes browsers send
            # `Origin: null` with the form, which the CSRF check refuses.
            response["Referrer-Policy"] = "no-referrer"
        return response

    def get_user(self, uidb64: str) -> User | None:
        user = super().get_user(uidb64)
        if user is None or not user.is_active:
            return None
        self.sign_in_instead = password_sign_in_refusal(user=user)
        self.off_access_list = not access_list_allows(user=user, ip=client_ip(self.request))
        return user

    @property
    def refused(self) -> bool:
        return bool(self.sign_in_instead) or self.off_access_list

    def refusal_response(self) -> HttpResponse:
        """A valid link that this person's sign-in policy refuses, like every other door: set
        nothing, forget the token, and record one event per refusal (opening the link is
        refused at once, so the token never reaches the form page; a form opened before the
        policy changed is refused when posted).

        Someone who must sign in another way (single sign-on required, and they aren't
        break-glass) is told how they sign in. An address outside the tenant's IP access list
        gets the access list's notice, as the password would.
        """
        self.request.session.pop(INTERNAL_RESET_SESSION_TOKEN, None)
        if self.sign_in_instead:
            password_link_refusal_record(
                request=self.request, user=self.user, instead=self.sign_in_instead
            )
            return self.render_to_response(
                {"validlink": False, "sign_in_instead": self.sign_in_instead}
            )
        access_list_sign_in_refuse(request=self.request, user=self.user)
        return access_list_refusal(self.request, tenant=self.user.tenant)

    def get(self, *args, **kwargs) -> HttpResponse:
        if self.refused:
            return self.refusal_response()
        return super().get(*args, **kwargs)

    def post(self, *args, **kwargs) -> HttpResponse:
        if self.refused:
            return self.refusal_response()
        return super().post(*args, **kwargs)

    def form_valid(self, form: NewPasswordForm) -> HttpResponse:
        first = not self.user.has_usable_password()
        password_set_from_link(
            request=self.request, user=self.user, password=form.cleaned_data["new_password1"]
        )
        # Every session of the person has ended; this browser's, holding the token, goes too.
        self.request.session.flush()
        messages.success(
            self.request,
            _("Your password is set. Sign in with it now.")
            if first
            else _(
                "Your password is changed and you are signed out everywhere. Sign in with the "
                "new password."
            ),
        )
        return redirect(self.success_url)


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("dashboard")

    @method_decorator(never_cache)
    def dispatch(self, *args, **kwargs) -> HttpResponse:
        return super().dispatch(*args, **kwargs)

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request}

    def get_context_data(self, **kwargs) -> dict:
        return {
            **super().get_context_data(**kwargs),
            "reason": password_change_reason(user=self.request.user),
            "max_age_days": getattr(self.request.user.tenant, "password_max_age_days", None),
        }

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        ended = password_change(request=self.request, password=form.cleaned_data["new_password1"])
        if ended:
            messages.success(
                self.request,
                ngettext(
                    "Your password is changed. %(count)d other session was signed out.",
                    "Your password is changed. %(count)d other sessions were signed out.",
                    ended,
                )
                % {"count": ended},
            )
        else:
            messages.success(self.request, _("Your password is changed."))
        return redirect(self.success_url)


@method_decorator(never_cache, name="dispatch")
class SignInNewPasswordView(FormView):
    """The step of a sign-in that waits for a required new password (after any second factor).

    The password was proved moments ago by this pending sign-in, so only the new one is asked.
    """

    form_class = NewPasswordForm
    template_name = "accounts/password_change.html"

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.person = pending_sign_in_user(request=request, step="new_password")
        if self.person is None:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "user": self.person}

    def get_context_data(self, **kwargs) -> dict:
        return {
            **super().get_context_data(**kwargs),
            "reason": password_change_reason(user=self.person),
            "max_age_days": getattr(self.person.tenant, "password_max_age_days", None),
            "signing_in": True,
        }

    def form_valid(self, form: NewPasswordForm) -> HttpResponse:
        next_step = password_change_at_sign_in(
            request=self.request, user=self.person, password=form.cleaned_data["new_password1"]
        )
        messages.success(self.request, _("Your password is changed."))
        next_url = next_url_for(self.request)
        if next_step is not None:
            return redirect(f"{next_step}?{urlencode({'next': next_url})}")
        return redirect(next_url)


def password_change_page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """/accounts/password/change/: the signed-in person's change form, or the new-password step
    of a pending sign-in."""
    if not request.user.is_authenticated and attempt_pending(request) is not None:
        return SignInNewPasswordView.as_view()(request, *args, **kwargs)
    return PasswordChangeView.as_view()(request, *args, **kwargs)


@never_cache
@require_http_methods(["GET", "POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    """GET only asks: signing out changes state, so it takes a POST with a CSRF token."""
    if request.method == "POST":
        user_sign_out(request=request)
        messages.success(request, _("You are signed out."))
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in_report_view(request: HttpRequest, token: str) -> HttpResponse:
    """ "This wasn't me": GET asks to confirm, POST locks the account. The link is the proof."""
    try:
        alert = report_link_alert(token=token)
    except ReportLinkInvalid as error:
        response = render(
            request,
            "accounts/report_invalid.html",
            {"expired": str(error) == "expired"},
            status=400,
        )
        response["Referrer-Policy"] = "no-referrer"
        return response
    context = {"alert": alert, "device": device_from_user_agent(alert.user_agent)}
    if request.method == "POST":
        done = sign_in_report(alert=alert, request=request)
        template = "accounts/report_done.html"
        context["already"] = not done
    elif sign_in_already_reported(alert=alert):
        template = "accounts/report_done.html"
        context["already"] = True
    else:
        template = "accounts/report_confirm.html"
    response = render(request, template, context)
    response["Referrer-Policy"] = "no-referrer"
    return response
