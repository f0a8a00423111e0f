from asgiref.sync import sync_to_async
from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied, AxesBackendRequestParameterRequired

from accounts.models import User
from accounts.sign_in import secret_check
from teams.backends import ScopeBackend


class SignInBackend(AxesStandaloneBackend, ScopeBackend):
    """Email + password and scopes (ScopeBackend), behind the lockout.

    Each attempt takes its slot in the lockout counters before the password is checked, so a
    burst of parallel attempts can't all be tried (`accounts.sign_in.secret_check`, the one
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
            user = ScopeBackend.authenticate(self, request, username=username, password=password)
            found.extend([user] if user is not None else [])
            return user is not None

        # Django's `user_login_failed` signal records a failed password (accounts/receivers.py).
        outcome = secret_check(request=request, email=username, check=check, record_failure=False)
        if outcome.refused_by is not None:
            raise AxesBackendPermissionDenied("Locked after too many failed sign-ins.")
        return found[0] if outcome.ok else None

    async def aauthenticate(self, request, username=None, password=None, **kwargs):
        return await sync_to_async(self.authenticate)(
            request, username=username, password=password, **kwargs
        )
