from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.trail, name="trail"),
    path("logins/", views.sign_in_history, name="sign_in_history"),
    path("export.csv", views.export, name="export"),
]
