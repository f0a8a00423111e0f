"""The site's URLs plus a page that rotates the session key, as the second sign-in step does."""

from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as site_urlpatterns


def rotate(request):
    request.session.cycle_key()
    return HttpResponse("rotated")


urlpatterns = [*site_urlpatterns, path("rotate/", rotate)]
