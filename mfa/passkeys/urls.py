from django.urls import path

from mfa.passkeys import views

urlpatterns = [
    path("add/", views.add, name="passkey-add"),
    path("<int:passkey_id>/rename/", views.rename, name="passkey-rename"),
    path("<int:passkey_id>/remove/", views.remove, name="passkey-remove"),
    path("verify/", views.second_step, name="passkey-verify"),
    path("sign-in/options/", views.sign_in_options, name="passkey-sign-in-options"),
    path("sign-in/", views.sign_in, name="passkey-sign-in"),
]
