from asgiref.sync import sync_to_async
from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied, AxesBackendRequestParameterRequired

from accounts import lockout
from accounts.models import User
from teams.backends import ScopeBackend


class SignInBackend(AxesStandaloneBackend, ScopeBackend):
    """Email + password and scopes (ScopeBackend), behind the lockout.

    Each attempt takes its slot in the lockout counters before the password is checked, so a
    burst of parallel attempts can't all be tried (see accounts/lockout.py); a right password
    gives the slot back. A locked attempt is refused without checking the password, which makes
    Django send `user_login_failed`, and axes' middleware answer with the lock notice.
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
        if lockout.attempt_begin(request=request, email=username) is not None:
            raise AxesBackendPermissionDenied("Locked after too many failed sign-ins.")
        user = ScopeBackend.authenticate(self, request, username=username, password=password)
        if user is not None:
            lockout.attempt_succeeded(request=request)
        return user

    async def aauthenticate(self, request, username=None, password=None, **kwargs):
        return await sync_to_async(self.authenticate)(
            request, username=username, password=password, **kwargs
        )
