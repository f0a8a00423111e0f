from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language

from accounts.views import sign_in_report_view
from config.csp_reports import csp_report
from config.health import healthz
from config.security import security
from config.views import dashboard

# The admin site (`teams.sites.PortcullisAdminSite`) has no sign-in form of its own: everybody
# signs in through /accounts/login/, so every check made there also guards the admin.
urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("security/", security, name="security"),
    path("accounts/", include("accounts.urls")),
    path("accounts/sessions/", include("teams.urls")),
    path("mfa/", include("mfa.urls")),
    path("sso/", include("sso.urls")),
    # SCIM 2.0 provisioning (provisioning/views.py): a tenant's directory, by bearer token.
    path("scim/v2/", include("provisioning.urls")),
    # "This wasn't me" belongs to the sign-in alerts (accounts); its emailed path is kept.
    path("audit/not-me/<str:token>/", sign_in_report_view, name="sign_in_report"),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
    path("", include("support.urls")),
    path("", include("reviews.urls")),
    path("healthz", healthz, name="healthz"),
    path("csp-report/", csp_report, name="csp_report"),
    # The footer's language switcher. Choosing a language only changes which language this
    # browser's pages speak, so it needs no CSRF token: pages then carry none of their own and
    # stay the same for everyone (the lock notice must not differ between accounts).
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
]

handler403 = "config.errors.permission_denied"
handler500 = "config.errors.server_error"
