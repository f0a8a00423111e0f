from django.urls import path

from sso import views

app_name = "sso"

urlpatterns = [
    path("start/", views.sso_start, name="start"),
    path("callback/", views.sso_callback, name="callback"),
    path(
        "<int:provider_id>/backchannel-logout/",
        views.backchannel_logout,
        name="backchannel_logout",
    ),
]
