from django.shortcuts import redirect
from django.urls import reverse

from accounts.selectors import password_change_reason


class PasswordChangeRequiredMiddleware:
    """A signed-in person whose password must change (it expired under their tenant's policy,
    or their account says so) goes to the change page before anything else: every other page,
    the admin included, redirects there. Signing out still works.

    It comes after the authentication middleware, and after the second-factor middleware once
    there is one: the change is asked for once the person is fully signed in.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and request.path_info not in self._allowed_paths()
            and password_change_reason(user=user)
        ):
            return redirect("accounts:password_change")
        return self.get_response(request)

    @staticmethod
    def _allowed_paths() -> set[str]:
        return {reverse("accounts:password_change"), reverse("accounts:logout"), reverse("healthz")}
