from django.urls import path

from support import views

app_name = "support"

urlpatterns = [
    path("help/", views.help_index, name="help"),
    path("help/<slug:slug>/", views.help_guide, name="guide"),
    path("recovery/", views.recovery, name="recovery"),
    path("recovery/sent/", views.recovery_sent, name="recovery_sent"),
    path("recovery/requests/", views.recovery_queue, name="recovery_queue"),
    path("recovery/requests/<int:pk>/", views.recovery_detail, name="recovery_detail"),
]
