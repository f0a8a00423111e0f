from django.urls import path

from mfa.totp import views

urlpatterns = [
    path("setup/", views.setup, name="totp-setup"),
    path("remove/", views.remove, name="totp-remove"),
]
