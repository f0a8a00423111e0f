from django.contrib import admin
from django.urls import include, path

from accounts.views import dashboard
from config.health import healthz

# The admin site (`teams.sites.PortcullisAdminSite`) has no sign-in form of its own: everybody
# signs in through /accounts/login/, so every check made there also guards the admin.
urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("accounts/", include("accounts.urls")),
    path("accounts/sessions/", include("teams.urls")),
    path("mfa/", include("mfa.urls")),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
    path("", include("support.urls")),
    path("healthz", healthz, name="healthz"),
]

handler500 = "config.errors.server_error"
