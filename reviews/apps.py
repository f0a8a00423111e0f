from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    """Access reviews: who has access to a tenant, what needs a look, and acting on it."""

    name = "reviews"
    verbose_name = "Reviews"
