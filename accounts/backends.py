from asgiref.sync import sync_to_async
from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied, AxesBackendRequestParameterRequired

from accounts.models import User, normalize_email
from accounts.proofs import secret_check
from teams.backends import ScopeBackend


class SignInBackend(AxesStandaloneBackend, ScopeBackend):
    """Email + password and scopes (ScopeBackend), behind the lockout.

    Each attempt takes its slot in the lockout counters before the password is checked, so a
    burst of parallel attempts can't all be tried (`accounts.proofs.secret_check`, the one
    guard of every secret check); a right password gives the slot back. A locked attempt is
    refused without checking the password, which makes Django send `user_login_failed`, and
    axes' middleware answer with the lock notice.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            raise AxesBackendRequestParameterRequired(
                "Signing in needs the request: the lockout counts per client IP."
            )
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        found: list[User] = []

        def check() -> bool:
            user = self._person_with_password(username, password)
            found.extend([user] if user is not None else [])
            return user is not None

        # Django's `user_login_failed` signal records a failed password (accounts/receivers.py).
        outcome = secret_check(request=request, email=username, check=check, record_failure=False)
        if outcome.refused_by is not None:
            raise AxesBackendPermissionDenied("Locked after too many failed sign-ins.")
        return found[0] if outcome.ok else None

    def _person_with_password(self, username: str, password: str) -> User | None:
        """ModelBackend's check, with the person's tenant and role in the same query: the steps
        after the password, the session policy and the audit event all read them."""
        user = (
            User.objects.select_related("tenant", "role")
            .filter(email=normalize_email(username))
            .first()
        )
        if user is None:
            # As long as checking a password, so the answer's timing doesn't tell who has an
            # account (Django's ModelBackend does the same).
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    async def aauthenticate(self, request, username=None, password=None, **kwargs):
        return await sync_to_async(self.authenticate)(
            request, username=username, password=password, **kwargs
        )
