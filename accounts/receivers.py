from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from accounts.proofs import sign_in_failure_record


@receiver(user_login_failed, dispatch_uid="accounts.sign_in_failure_record")
def record_sign_in_failure(sender, credentials: dict, request=None, **kwargs) -> None:
    sign_in_failure_record(request=request, email=str(credentials.get("username", "")))
