from django.urls import include, path

from mfa import views

app_name = "mfa"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("verify/", views.second_step, name="verify"),
    path("confirm-password/", views.reauthenticate, name="reauthenticate"),
    path("totp/", include("mfa.totp.urls")),
    path("backup-codes/", include("mfa.backup_codes.urls")),
    path("passkeys/", include("mfa.passkeys.urls")),
]
