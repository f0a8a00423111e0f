from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.proofs import sign_in_failure_record
from accounts.selectors import passkey_sign_in_offered_forget
from teams.models import Tenant


@receiver(user_login_failed, dispatch_uid="accounts.sign_in_failure_record")
def record_sign_in_failure(sender, credentials: dict, request=None, **kwargs) -> None:
    sign_in_failure_record(request=request, email=str(credentials.get("username", "")))


@receiver(post_save, sender=Tenant, dispatch_uid="accounts.passkey_offer_on_tenant_save")
@receiver(post_delete, sender=Tenant, dispatch_uid="accounts.passkey_offer_on_tenant_delete")
def forget_passkey_offer(sender, **kwargs) -> None:
    """A tenant's "passkey alone" may have changed: the sign-in page asks again. Now, and again
    after the commit, since a request meanwhile may read the old setting back into the cache."""
    passkey_sign_in_offered_forget()
    transaction.on_commit(passkey_sign_in_offered_forget)
