from django.contrib import admin
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def admin_access(request: HttpRequest) -> dict:
    """Whether to offer the admin: the same question the admin site itself asks."""
    return {"admin_available": SimpleLazyObject(lambda: admin.site.has_permission(request))}
