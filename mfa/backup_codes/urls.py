from django.urls import path

from mfa.backup_codes import views

urlpatterns = [
    path("", views.backup_codes, name="backup-codes"),
]
