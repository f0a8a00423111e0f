from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from sso.models import IdentityProvider
from teams.models import Tenant


@receiver(post_save, sender=IdentityProvider, dispatch_uid="sso.tenant_flag_on_save")
def tenant_flag_on_save(sender, instance: IdentityProvider, **kwargs) -> None:
    """Keep `Tenant.single_sign_on_required` and `Tenant.single_sign_on_max_age_minutes` in
    step with the provider, however it is saved, so a sign-in at a tenant without required
    single sign-on asks nothing of this app, and every request's session check reads the
    maximum age from the tenant it already loaded."""
    required = instance.enabled and instance.policy == IdentityProvider.Policy.REQUIRED
    Tenant.objects.filter(pk=instance.tenant_id).update(
        single_sign_on_required=required,
        single_sign_on_max_age_minutes=instance.session_max_age_minutes,
    )


@receiver(post_delete, sender=IdentityProvider, dispatch_uid="sso.tenant_flag_on_delete")
def tenant_flag_on_delete(sender, instance: IdentityProvider, **kwargs) -> None:
    Tenant.objects.filter(pk=instance.tenant_id).update(
        single_sign_on_required=False, single_sign_on_max_age_minutes=None
    )
