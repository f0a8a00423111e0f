from django.conf import settings
from django.urls import reverse


def site_link(viewname: str, *args, **kwargs) -> str:
    """The absolute address of a page for a mail: always on SITE_URL, never on the Host of the
    request that caused the mail (a forged Host must not end up in anybody's inbox)."""
    return f"{settings.SITE_URL}{reverse(viewname, args=args or None, kwargs=kwargs or None)}"
