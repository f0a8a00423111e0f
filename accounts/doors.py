"""The password door: the sign-in form's right password becomes an attempt for the run.

The other doors are adapters in the apps that own their first factor: single sign-on's
callback (`sso.services.sign_in_through_provider`) and a passkey alone
(`mfa.passkeys.services.passkey_sign_in`). Each builds a `SignInAttempt` and hands it to
`accounts.sign_in.sign_in_run`.
"""

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from accounts.attempt import PASSWORD, PASSWORD_DOOR, SLOT_HELD, SignInAttempt
from accounts.breached import breached_password_sign_in_check
from accounts.models import User
from accounts.proofs import password_proof_record
from accounts.sign_in import sign_in_run


@sensitive_variables("password")
def password_door(*, request: HttpRequest, user: User, password: str) -> str | None:
    """The password was right (the sign-in backend checked it, holding a lockout slot that the
    run settles). Returns the address of the first step due, or None when signed in.

    Once the gates let the attempt in, this session has proved the password (changing factors
    soon after needs no second proof), and the tenant's breached-password check sees the
    password, the one moment it is in clear: a breached one makes the new-password step due.
    """

    def admitted() -> None:
        password_proof_record(request=request)
        breached_password_sign_in_check(request=request, user=user, password=password)

    attempt = SignInAttempt(
        user_id=user.pk,
        door=PASSWORD_DOOR,
        backend=user.backend,
        proved=(PASSWORD,),
        slot=SLOT_HELD,
    )
    return sign_in_run(request=request, attempt=attempt, user=user, admitted=admitted)
