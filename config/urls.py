from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path

from accounts.views import dashboard
from config.health import healthz

# The admin has no sign-in form of its own: everybody signs in through /accounts/login/, so
# every check made there (and every later factor) also guards the admin.
admin.site.login = login_required(admin.site.login)
admin.site.site_header = "Portcullis administration"
admin.site.site_title = "Portcullis"

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("accounts/", include("accounts.urls")),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
