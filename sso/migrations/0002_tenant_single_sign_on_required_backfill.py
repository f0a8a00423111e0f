from django.db import migrations


def flags_set(apps, schema_editor):
    """Tenants whose provider is enabled and required get their flag (sso/receivers.py keeps
    it from then on)."""
    identity_provider = apps.get_model("sso", "IdentityProvider")
    tenant = apps.get_model("teams", "Tenant")
    required = identity_provider.objects.filter(enabled=True, policy="required")
    tenant.objects.filter(pk__in=required.values("tenant_id")).update(
        single_sign_on_required=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("sso", "0001_initial"),
        ("teams", "0009_tenant_single_sign_on_required"),
    ]

    operations = [migrations.RunPython(flags_set, migrations.RunPython.noop)]
