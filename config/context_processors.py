from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    """The canonical address, so pages can tell people which address to trust."""
    return {"SITE_URL": settings.SITE_URL}
