"""The bare side of `make bench` part 1: Django's own LoginView in front of the site's URLs (so
its redirect and templates resolve), served through Django's stock middleware."""

from django.contrib.auth.views import LoginView
from django.urls import path

from config.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    path("accounts/login/", LoginView.as_view(template_name="accounts/login.html")),
    *site_urlpatterns,
]
