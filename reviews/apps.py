from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReviewsConfig(AppConfig):
    """Access reviews: who has access to a tenant, what needs a look, and acting on it."""

    name = "reviews"
    verbose_name = _("Reviews")
